import { z } from "zod";
import { FAILURE_MODES, type FailureMode } from "./store/failure_mode_store.ts";
import { LOG_LEVELS, type LogLevel } from "./log.ts";
import { MAX_LIMIT, MAX_WINDOW_MS } from "./limiter/bounds.ts";
import {
  DEFAULT_LIMITS_POLICY,
  type LimitsPolicy,
  type PolicyMaxima,
} from "./limiter/limits_policy.ts";
import { type Algorithm, ALGORITHMS } from "./limiter/types.ts";
import {
  DEFAULT_KEY_PREFIX,
  KEY_LAYOUTS,
  type KeyLayout,
  REFERENCE_MAX_COST,
  REFERENCE_NAMESPACE,
} from "./store/keys.ts";
import { redactUrl } from "./redis/redact.ts";
import {
  parseRedisUrl,
  REDIS_MODES,
  type RedisMode,
  type RedisTarget,
  splitUrls,
} from "./redis/target.ts";

/** How `/check` answers while the store (Redis) cannot be reached. */

/** The service's settings, parsed from `RATELIMITER_*` environment variables. */
export interface Config {
  /**
   * Redis URL (standalone), or comma-separated seed nodes (cluster) or sentinels (sentinel);
   * `undefined` runs one node on the embedded in-memory store.
   */
  redisUrl: string | undefined;
  /** How {@linkcode Config.redisUrl} is read: one server, a Redis Cluster, or Sentinel. */
  redisMode: RedisMode;
  /** Sentinel mode: the name of the master the sentinels monitor. */
  redisSentinelMaster: string | undefined;
  /** Sentinel mode: the sentinels' own password, when they require one (a secret). */
  redisSentinelPassword: string | undefined;
  /** This node's id, unique in the cluster. */
  nodeId: string;
  /** Host name other nodes and operators reach this node at. */
  nodeHost: string;
  /** Port the node listens on and advertises. */
  nodePort: number;
  /** Interface the HTTP server binds to. */
  listenHost: string;
  /** Limit applied when neither an override nor the request names one. */
  defaultLimit: number;
  /** Window in milliseconds applied when neither an override nor the request names one. */
  defaultWindowMs: number;
  /** Algorithm applied when neither an override nor the request names one. */
  defaultAlgorithm: Algorithm;
  /** A node whose last heartbeat is older than this is `Down`. */
  nodeTtlSeconds: number;
  /** How often a node refreshes its registration; below {@linkcode Config.nodeTtlSeconds}. */
  nodeHeartbeatSeconds: number;
  /** Minimum level of log lines written. */
  logLevel: LogLevel;
  /** Prefix of every Redis key the service writes; no braces. */
  keyPrefix: string;
  /**
   * Where sliding_log counters live in Redis: `default`, or `reference` (the original service's
   * sorted set at `ratelimit:<key>`, one member per unit). `reference` needs Redis, a sliding_log
   * `RATELIMITER_MAX_COST` of at most 10,000 and a key prefix outside `ratelimit:`.
   */
  keyLayout: KeyLayout;
  /** Bearer token required by state-changing `/api` calls; `undefined` leaves them open. */
  adminToken: string | undefined;
  /** Whether `GET /api/*` also requires the admin token. */
  adminReadAuth: boolean;
  /** Deadline of every store call in milliseconds. */
  storeTimeoutMs: number;
  /** What `/check` does while the store is unreachable. */
  failureMode: FailureMode;
  /** How long a shutdown waits for in-flight requests, in milliseconds. */
  shutdownGraceMs: number;
  /**
   * Most rate-limit keys the embedded store holds (and the in-process limiter of the `local`
   * failure mode); a check needing one more is refused, nothing is evicted.
   */
  memoryMaxKeys: number;
  /** Longest a client may take to send a request body, in milliseconds (then 408). */
  bodyTimeoutMs: number;
  /** Whether a node answers keys Redis has blocked from memory until they unblock. */
  blockCache: boolean;
  /**
   * Whether the checks a node sends to Redis in one event-loop turn go as one script run
   * (coalescing) instead of one EVALSHA each.
   */
  coalesce: boolean;
  /**
   * Whether the listener binds with `SO_REUSEPORT` (Linux), so several node processes on one host
   * share one port and the kernel spreads connections over them (README, "Several processes on one
   * host"). Needs Redis: each process is then a node of its own in the registry.
   */
  reusePort: boolean;
  /**
   * Largest `limit`, `window_ms` and `cost` a client may ask for, per algorithm
   * (`RATELIMITER_MAX_LIMIT`, `RATELIMITER_MAX_WINDOW_MS`, `RATELIMITER_MAX_COST`). Overrides and
   * the defaults above are the operator's own and may exceed it.
   */
  limitsPolicy: LimitsPolicy;
  /** Port of the gRPC server of Envoy's rate limit protocol (on `listenHost`); 0 turns it off. */
  grpcPort: number;
  /**
   * Whether `ShouldRateLimit` answers draft-10 `RateLimit` and `RateLimit-Policy` headers in
   * `response_headers_to_add`.
   */
  rlsRateLimitHeaders: boolean;
  /**
   * The operator's rules (`RATELIMITER_RULES_FILE`): a YAML file, or a directory whose `*.yaml` and
   * `*.yml` files are read in name order; `undefined`: no rules.
   */
  rulesFile: string | undefined;
}

/** Thrown by {@linkcode parseConfig} with one message naming every bad variable. */
export class ConfigError extends Error {
  /** One entry per bad variable. */
  readonly issues: string[];
  constructor(issues: string[]) {
    super(`Invalid configuration: ${issues.join("; ")}`);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** Longest a client may take to send a request body unless configured, in milliseconds. */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

const PREFIX = "RATELIMITER_";

function describe(value: unknown): string {
  return JSON.stringify(value);
}

/** An integer variable in `[min, max]`. */
function int(min: number, max: number, fallback: number) {
  return z.string().optional().transform((raw, ctx) => {
    if (raw === undefined || raw === "") return fallback;
    const value = /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      ctx.addIssue({
        code: "custom",
        message: `expected an integer from ${min} to ${max}, received ${describe(raw)}`,
      });
      return z.NEVER;
    }
    return value;
  });
}

function oneOf<const T extends readonly string[]>(values: T, fallback: T[number]) {
  return z.string().optional().transform((raw, ctx): T[number] => {
    if (raw === undefined || raw === "") return fallback;
    const value = raw.trim().toLowerCase();
    if (!(values as readonly string[]).includes(value)) {
      ctx.addIssue({
        code: "custom",
        message: `expected one of ${values.join(", ")}, received ${describe(raw)}`,
      });
      return z.NEVER;
    }
    return value as T[number];
  });
}

function bool(fallback: boolean) {
  return z.string().optional().transform((raw, ctx) => {
    if (raw === undefined || raw === "") return fallback;
    const value = raw.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(value)) return true;
    if (["false", "0", "no", "off"].includes(value)) return false;
    ctx.addIssue({ code: "custom", message: `expected true or false, received ${describe(raw)}` });
    return z.NEVER;
  });
}

/** A free-text variable; a `secret` one is described by its length only, never echoed. */
function text(pattern: RegExp, expected: string, secret = false) {
  return z.string().optional().transform((raw, ctx) => {
    if (raw === undefined || raw === "") return undefined;
    if (!pattern.test(raw)) {
      const received = secret
        ? `${raw.length} characters (value not shown: it is a secret)`
        : describe(raw);
      ctx.addIssue({ code: "custom", message: `expected ${expected}, received ${received}` });
      return z.NEVER;
    }
    return raw;
  });
}

/** One `redis://` or `rediss://` URL, or several separated by commas (cluster, sentinel). */
function redisUrl() {
  return z.string().optional().transform((raw, ctx) => {
    if (raw === undefined || raw.trim() === "") return undefined;
    const urls = splitUrls(raw);
    for (const url of urls.length === 0 ? [raw] : urls) {
      try {
        parseRedisUrl(url);
      } catch {
        ctx.addIssue({
          code: "custom",
          message: `expected a redis:// or rediss:// URL with a host (several separated by ` +
            `commas in cluster and sentinel modes), received ${describe(redactUrl(url))}`,
        });
        return z.NEVER;
      }
    }
    return urls.join(",");
  });
}

/**
 * A per-algorithm maximum: one integer in `[1, max]` for every algorithm, or a comma-separated
 * list of an optional such integer (for the algorithms not named) and `algorithm=integer` items,
 * e.g. `1000000,sliding_log=10000`. Algorithms named nowhere keep their value in `fallback`.
 */
function perAlgorithm(max: number, fallback: (algorithm: Algorithm) => number) {
  const expected = `an integer from 1 to ${max} or a list like "${max},sliding_log=10000"`;
  return z.string().optional().transform((raw, ctx): Record<Algorithm, number> => {
    const values = Object.fromEntries(ALGORITHMS.map((a) => [a, fallback(a)])) as Record<
      Algorithm,
      number
    >;
    if (raw === undefined || raw.trim() === "") return values;
    const fail = (message: string) => {
      ctx.addIssue({ code: "custom", message });
      return z.NEVER;
    };
    const named = new Map<Algorithm, number>();
    let all: number | undefined;
    for (const item of raw.split(",")) {
      const eq = item.indexOf("=");
      const name = eq === -1 ? undefined : item.slice(0, eq);
      const text = item.slice(eq + 1).trim();
      const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(value) || value < 1 || value > max) {
        return fail(`expected ${expected}, received ${describe(raw)}`);
      }
      if (name === undefined) {
        if (all !== undefined) {
          return fail(
            `expected at most one value without an algorithm, received ${describe(raw)}`,
          );
        }
        all = value;
        continue;
      }
      const algorithm = name.trim().toLowerCase() as Algorithm;
      if (!(ALGORITHMS as readonly string[]).includes(algorithm)) {
        return fail(
          `expected one of ${ALGORITHMS.join(", ")} before "=", received ${describe(item.trim())}`,
        );
      }
      if (named.has(algorithm)) {
        return fail(`expected each algorithm at most once, received ${describe(raw)}`);
      }
      named.set(algorithm, value);
    }
    for (const algorithm of ALGORITHMS) {
      values[algorithm] = named.get(algorithm) ?? all ?? values[algorithm];
    }
    return values;
  });
}

/** The zod schema over the raw environment; keys are the variable names without the prefix. */
const envSchema = z.object({
  REDIS_URL: redisUrl(),
  REDIS_MODE: oneOf(REDIS_MODES, "standalone"),
  REDIS_SENTINEL_MASTER: text(
    /^[A-Za-z0-9._-]{1,128}$/,
    "1 to 128 characters of A-Z a-z 0-9 . _ -",
  ),
  REDIS_SENTINEL_PASSWORD: text(
    /^[\x21-\x7e]{1,512}$/,
    "1 to 512 printable ASCII characters",
    true,
  ),
  NODE_ID: text(/^[A-Za-z0-9._:-]{1,128}$/, "1 to 128 characters of A-Z a-z 0-9 . _ : -"),
  NODE_HOST: text(/^[A-Za-z0-9.\-:\[\]]{1,253}$/, "a host name or IP address"),
  NODE_PORT: int(1, 65535, 8000),
  LISTEN_HOST: text(/^[A-Za-z0-9.\-:\[\]]{1,253}$/, "a host name or IP address"),
  DEFAULT_LIMIT: int(1, MAX_LIMIT, 100),
  DEFAULT_WINDOW_MS: int(1, MAX_WINDOW_MS, 60_000),
  DEFAULT_ALGORITHM: oneOf(ALGORITHMS, "sliding_log"),
  NODE_TTL_SECONDS: int(1, 86_400, 30),
  NODE_HEARTBEAT_SECONDS: int(1, 86_400, 10),
  LOG_LEVEL: oneOf(LOG_LEVELS, "info"),
  KEY_PREFIX: text(/^[A-Za-z0-9._:-]{1,32}$/, "1 to 32 characters of A-Z a-z 0-9 . _ : -"),
  KEY_LAYOUT: oneOf(KEY_LAYOUTS, "default"),
  ADMIN_TOKEN: text(/^[\x21-\x7e]{16,512}$/, "16 to 512 printable ASCII characters", true),
  ADMIN_READ_AUTH: bool(false),
  STORE_TIMEOUT_MS: int(1, 60_000, 100),
  FAILURE_MODE: oneOf(FAILURE_MODES, "open"),
  SHUTDOWN_GRACE_MS: int(0, 600_000, 10_000),
  MEMORY_MAX_KEYS: int(1, 100_000_000, 1_000_000),
  BODY_TIMEOUT_MS: int(100, 600_000, DEFAULT_BODY_TIMEOUT_MS),
  BLOCK_CACHE: bool(true),
  COALESCE: bool(true),
  REUSE_PORT: bool(false),
  MAX_LIMIT: perAlgorithm(MAX_LIMIT, (a) => DEFAULT_LIMITS_POLICY[a].limit),
  MAX_WINDOW_MS: perAlgorithm(MAX_WINDOW_MS, (a) => DEFAULT_LIMITS_POLICY[a].windowMs),
  MAX_COST: perAlgorithm(MAX_LIMIT, (a) => DEFAULT_LIMITS_POLICY[a].cost),
  GRPC_PORT: int(0, 65535, 8081),
  RLS_RATELIMIT_HEADERS: bool(false),
  RULES_FILE: text(/^[^\0]{1,4096}$/, "a file or directory path of 1 to 4096 characters"),
});

/** Every environment variable {@linkcode parseConfig} reads, for a caller that reads only these. */
export const CONFIG_ENV_VARS: readonly string[] = Object.keys(envSchema.shape).map((name) =>
  PREFIX + name
);

/** Options for {@linkcode parseConfig}. */
export interface ParseConfigOptions {
  /** This machine's host name, used to derive the default node id. @default {"localhost"} */
  hostname?: string;
  /**
   * This process's id, part of the default node id when `RATELIMITER_REUSE_PORT` is on (several
   * processes then share one host and port). @default {0}
   */
  pid?: number;
}

/**
 * Parses the service's configuration from environment variables (`RATELIMITER_*`).
 *
 * Throws a {@linkcode ConfigError} naming every bad variable, the value received (never a secret:
 * the admin token by its length, a Redis URL without its password) and what was expected. Reads
 * nothing but `env`.
 */
export function parseConfig(
  env: Record<string, string | undefined>,
  options: ParseConfigOptions = {},
): Config {
  const raw: Record<string, string | undefined> = {};
  for (const name of Object.keys(envSchema.shape)) raw[name] = env[PREFIX + name];
  const result = envSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) =>
        `Cannot parse "${PREFIX}${String(issue.path[0])}": ${issue.message}`
      ),
    );
  }
  const e = result.data;
  const issues: string[] = [];
  if (e.NODE_HEARTBEAT_SECONDS >= e.NODE_TTL_SECONDS) {
    issues.push(
      `Cannot use "${PREFIX}NODE_HEARTBEAT_SECONDS": expected a value below ` +
        `${PREFIX}NODE_TTL_SECONDS (${e.NODE_TTL_SECONDS}), received ${e.NODE_HEARTBEAT_SECONDS}`,
    );
  }
  if (e.KEY_LAYOUT === "reference") issues.push(...referenceLayoutIssues(e));
  issues.push(...redisModeIssues(e));
  if (e.REUSE_PORT && e.REDIS_URL === undefined) {
    issues.push(
      `Cannot use "${PREFIX}REUSE_PORT" without ${PREFIX}REDIS_URL: processes sharing a port ` +
        `would each count on their own embedded store, multiplying every limit by their number`,
    );
  }
  if (issues.length > 0) throw new ConfigError(issues);
  const hostname = sanitizeId(options.hostname ?? "localhost");
  return {
    redisUrl: e.REDIS_URL,
    redisMode: e.REDIS_MODE,
    redisSentinelMaster: e.REDIS_SENTINEL_MASTER,
    redisSentinelPassword: e.REDIS_SENTINEL_PASSWORD,
    // Processes sharing a port (REUSE_PORT) need distinct ids: the process id tells them apart.
    nodeId: e.NODE_ID ??
      (e.REUSE_PORT
        ? `${hostname}-${e.NODE_PORT}-${options.pid ?? 0}`
        : `${hostname}-${e.NODE_PORT}`),
    nodeHost: e.NODE_HOST ?? "localhost",
    nodePort: e.NODE_PORT,
    listenHost: e.LISTEN_HOST ?? "0.0.0.0",
    defaultLimit: e.DEFAULT_LIMIT,
    defaultWindowMs: e.DEFAULT_WINDOW_MS,
    defaultAlgorithm: e.DEFAULT_ALGORITHM,
    nodeTtlSeconds: e.NODE_TTL_SECONDS,
    nodeHeartbeatSeconds: e.NODE_HEARTBEAT_SECONDS,
    logLevel: e.LOG_LEVEL,
    keyPrefix: e.KEY_PREFIX ?? DEFAULT_KEY_PREFIX,
    keyLayout: e.KEY_LAYOUT,
    adminToken: e.ADMIN_TOKEN,
    adminReadAuth: e.ADMIN_READ_AUTH,
    storeTimeoutMs: e.STORE_TIMEOUT_MS,
    failureMode: e.FAILURE_MODE,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    memoryMaxKeys: e.MEMORY_MAX_KEYS,
    bodyTimeoutMs: e.BODY_TIMEOUT_MS,
    blockCache: e.BLOCK_CACHE,
    coalesce: e.COALESCE,
    reusePort: e.REUSE_PORT,
    limitsPolicy: Object.fromEntries(
      ALGORITHMS.map((a): [Algorithm, PolicyMaxima] => [
        a,
        { limit: e.MAX_LIMIT[a], windowMs: e.MAX_WINDOW_MS[a], cost: e.MAX_COST[a] },
      ]),
    ) as Record<Algorithm, PolicyMaxima>,
    grpcPort: e.GRPC_PORT,
    rlsRateLimitHeaders: e.RLS_RATELIMIT_HEADERS,
    rulesFile: e.RULES_FILE,
  };
}

/** Where the node's Redis is, as {@linkcode initRedis} takes it; `undefined` without Redis. */
export function redisTarget(config: Config): RedisTarget | undefined {
  if (config.redisUrl === undefined) return undefined;
  return {
    mode: config.redisMode,
    urls: splitUrls(config.redisUrl),
    sentinelMaster: config.redisSentinelMaster,
    sentinelPassword: config.redisSentinelPassword,
  };
}

/** Why the Redis mode cannot hold with the URLs and the other settings, if it cannot. */
function redisModeIssues(e: z.infer<typeof envSchema>): string[] {
  const issues: string[] = [];
  const mode = e.REDIS_MODE;
  const name = `"${PREFIX}REDIS_MODE"`;
  const urls = e.REDIS_URL === undefined ? [] : splitUrls(e.REDIS_URL);
  if (mode !== "standalone" && urls.length === 0) {
    issues.push(
      `Cannot use ${name} ${describe(mode)} without ${PREFIX}REDIS_URL: expected the ` +
        (mode === "cluster" ? "seed nodes' URLs" : "sentinels' URLs") + ", separated by commas",
    );
  }
  if (mode === "standalone" && urls.length > 1) {
    issues.push(
      `Cannot use "${PREFIX}REDIS_URL" with ${urls.length} URLs in standalone mode: expected ` +
        `one, or ${PREFIX}REDIS_MODE cluster or sentinel`,
    );
  }
  if (new Set(urls.map((u) => parseRedisUrl(u).tls)).size > 1) {
    issues.push(
      `Cannot use "${PREFIX}REDIS_URL": expected every URL redis:// or every URL rediss://, ` +
        `received both`,
    );
  }
  if (mode === "cluster") {
    const withDatabase = urls.find((u) => parseRedisUrl(u).database !== 0);
    if (withDatabase !== undefined) {
      issues.push(
        `Cannot use "${PREFIX}REDIS_URL" ${describe(redactUrl(withDatabase))} in cluster mode: ` +
          `a Redis Cluster has only database 0`,
      );
    }
    if (e.KEY_LAYOUT === "reference") {
      issues.push(
        `Cannot use "${PREFIX}KEY_LAYOUT" "reference" in cluster mode: the layout's keys have ` +
          `no hash tag (the original service ran on one Redis); use the default layout`,
      );
    }
  }
  if (mode === "sentinel" && e.REDIS_SENTINEL_MASTER === undefined) {
    issues.push(
      `Cannot use ${name} "sentinel" without ${PREFIX}REDIS_SENTINEL_MASTER: expected the name ` +
        `of the master the sentinels monitor`,
    );
  }
  if (mode !== "sentinel") {
    for (const variable of ["REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_PASSWORD"] as const) {
      if (e[variable] !== undefined) {
        issues.push(
          `Cannot use "${PREFIX}${variable}" in ${mode} mode: expected it only with ` +
            `${PREFIX}REDIS_MODE "sentinel"`,
        );
      }
    }
  }
  return issues;
}

/** Why `RATELIMITER_KEY_LAYOUT=reference` cannot hold with the other settings, if it cannot. */
function referenceLayoutIssues(e: z.infer<typeof envSchema>): string[] {
  const issues: string[] = [];
  const name = `"${PREFIX}KEY_LAYOUT"`;
  if (e.REDIS_URL === undefined) {
    issues.push(
      `Cannot use ${name} "reference" without ${PREFIX}REDIS_URL: the layout is a Redis key ` +
        `schema and the embedded store has none`,
    );
  }
  if (e.MAX_COST.sliding_log > REFERENCE_MAX_COST) {
    issues.push(
      `Cannot use ${name} "reference" with a sliding_log ${PREFIX}MAX_COST above ` +
        `${REFERENCE_MAX_COST}: the layout stores one member per unit, received ` +
        `${e.MAX_COST.sliding_log}`,
    );
  }
  const prefix = e.KEY_PREFIX ?? DEFAULT_KEY_PREFIX;
  if (prefix === REFERENCE_NAMESPACE || prefix.startsWith(`${REFERENCE_NAMESPACE}:`)) {
    issues.push(
      `Cannot use ${name} "reference" with ${PREFIX}KEY_PREFIX ${describe(prefix)}: the ` +
        `layout owns the "${REFERENCE_NAMESPACE}:" namespace`,
    );
  }
  return issues;
}

function sanitizeId(hostname: string): string {
  const id = hostname.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 100);
  return id === "" ? "node" : id;
}
