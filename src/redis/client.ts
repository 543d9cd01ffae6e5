/**
 * The Redis connection of the node: {@linkcode initRedis} opens the one process-wide client that
 * the node passes to the store, the cluster parts and the events publisher (without requiring
 * Redis to answer yet), and {@linkcode closeRedis} closes it at shutdown. {@linkcode createRedisClient} makes any extra
 * connection (the pub/sub subscriber, tests, benchmarks).
 *
 * @module
 */
import type { RedisClient } from "./connection.ts";
import { ClusterClient } from "./cluster.ts";
import { SentinelClient } from "./sentinel.ts";
import { StandaloneClient } from "./standalone.ts";
import { describeTarget, type RedisTarget } from "./target.ts";
import type { Logger } from "../log.ts";
import { DEADLINE_PASSED, withDeadline } from "../deadline.ts";

export type { RedisClient } from "./connection.ts";

/** Options for {@linkcode initRedis} and {@linkcode createRedisClient}. */
export interface RedisOptions {
  /** How long the first connection and PING may take, in milliseconds. @default {5000} */
  connectTimeoutMs?: number;
  /** Logger for connection events. @default {none} */
  logger?: Logger;
  /** Client name shown by `CLIENT LIST`. @default {"ratelimiter"} */
  name?: string;
  /**
   * Cluster only: how long a command refused by a cluster in transition (`TRYAGAIN`,
   * `CLUSTERDOWN`, its master unreachable) is retried, in ms (the store deadline).
   * @default {100}
   */
  retryWithinMs?: number;
}

/** Thrown when Redis cannot be reached at start; the message names the URL without its password. */
export class RedisConnectError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisConnectError";
  }
}

/** A target given as one URL is a standalone server. */
function toTarget(target: string | RedisTarget): RedisTarget {
  return typeof target === "string" ? { mode: "standalone", urls: [target] } : target;
}

/**
 * The connection for `target`, in its mode, not connected yet: it reconnects by itself with
 * capped exponential backoff and jitter, and rejects commands while disconnected instead of
 * queueing them, so callers fail fast during an outage. Throws a `TypeError` for a URL it cannot
 * use.
 */
export function newRedisClient(
  target: string | RedisTarget,
  options: RedisOptions = {},
): RedisClient {
  const t = toTarget(target);
  const settings = {
    name: options.name ?? "ratelimiter",
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
  };
  switch (t.mode) {
    case "standalone":
      if (t.urls.length !== 1) {
        throw new TypeError(`Cannot use ${t.urls.length} URLs in standalone mode: expected one`);
      }
      return new StandaloneClient(t.urls[0]!, settings);
    case "cluster":
      return new ClusterClient(t.urls, {
        ...settings,
        retryWithinMs: options.retryWithinMs ?? 100,
      });
    case "sentinel":
      if (t.sentinelMaster === undefined || t.sentinelMaster === "") {
        throw new TypeError("Cannot use Sentinel without the master's name");
      }
      return new SentinelClient(t.urls, {
        ...settings,
        master: t.sentinelMaster,
        sentinelPassword: t.sentinelPassword,
      });
  }
}

/** A client with the service's options and connection logging; not connected yet. */
function newClient(
  target: RedisTarget,
  options: RedisOptions,
  onReady: (first: boolean) => void,
): { client: RedisClient; lastError: () => string } {
  const logger = options.logger;
  const client = newRedisClient(target, options);
  const where = describeTarget(target);
  let lastError = "";
  let readyBefore = false;
  client.on("error", (error: Error) => {
    // node-redis reports every failed reconnect; log each distinct message once in a row.
    if (error.message !== lastError) {
      lastError = error.message;
      logger?.warn("redis_error", { url: where, error: error.message });
    }
  });
  client.on("ready", () => {
    lastError = "";
    onReady(!readyBefore);
    readyBefore = true;
  });
  return { client, lastError: () => lastError };
}

/**
 * Creates and connects a Redis client, resolving once it answers PING.
 *
 * The client reconnects by itself with capped exponential backoff and jitter, and rejects commands
 * while disconnected instead of queueing them, so callers fail fast during an outage.
 */
export async function createRedisClient(
  url: string | RedisTarget,
  options: RedisOptions = {},
): Promise<RedisClient> {
  const target = toTarget(url);
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  const { client, lastError } = newClient(target, options, () => {
    options.logger?.info("redis_ready", { url: describeTarget(target) });
  });
  try {
    const answered = await withDeadline(
      client.connect().then(() => client.sendCommand(["PING"])),
      timeoutMs,
    );
    if (answered === DEADLINE_PASSED) {
      const last = lastError();
      throw new Error(`no answer within ${timeoutMs} ms${last === "" ? "" : ` (${last})`}`);
    }
    return client;
  } catch (error) {
    client.destroy();
    const reason = error instanceof Error ? error.message : String(error);
    throw new RedisConnectError(
      `Cannot connect to Redis at ${describeTarget(target)}: ${
        reason || lastError() || "unknown error"
      }`,
      { cause: error },
    );
  }
}

/** What {@linkcode initRedis} returns. */
export interface RedisStart {
  /** The process-wide client, connected or still trying to connect. */
  client: RedisClient;
  /**
   * Why the first connection attempt failed (the URL redacted); `undefined` when Redis answered.
   * Commands fail at once (disabled offline queue) until it does.
   */
  unavailable: string | undefined;
  /**
   * Resolves when Redis first answers: at once if it already did. Never rejects; stays pending if
   * the client is closed before.
   */
  connected: Promise<void>;
}

/** The one client of the process, between initRedis() and closeRedis(). */
let shared: RedisClient | undefined;

/**
 * Opens the process-wide Redis client and returns it, without requiring Redis to answer: it waits
 * for the first connection attempt only (at most `connectTimeoutMs`), so a node started while Redis
 * is down can serve in its failure mode; the client keeps reconnecting in the background with the
 * usual backoff. Logs `redis_connected` once, when Redis first answers; later reconnections log
 * `redis_ready`. Throws a `TypeError` for a URL node-redis cannot use. {@linkcode closeRedis}
 * closes the client; extra connections come from {@linkcode createRedisClient}.
 */
export async function initRedis(
  url: string | RedisTarget,
  options: RedisOptions = {},
): Promise<RedisStart> {
  const target = toTarget(url);
  if (shared !== undefined) {
    throw new Error("Redis is already initialised: call closeRedis() first");
  }
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  const started = Date.now();
  let answered!: () => void;
  const connected = new Promise<void>((resolve) => answered = resolve);
  let firstAttempt!: () => void;
  const attempted = new Promise<void>((resolve) => firstAttempt = resolve);
  const { client, lastError } = newClient(target, options, (first) => {
    if (first) {
      options.logger?.info("redis_connected", {
        url: describeTarget(target),
        after_ms: Date.now() - started,
      });
      answered();
    } else {
      options.logger?.info("redis_ready", { url: describeTarget(target) });
    }
  });
  client.on("error", () => firstAttempt());
  shared = client;
  // Resolves once connected; keeps retrying until then. Rejects only if closed or given up on.
  client.connect().then(() => firstAttempt(), () => firstAttempt());
  const settled = await withDeadline(Promise.race([attempted, connected]), timeoutMs);
  if (client.isReady) return { client, unavailable: undefined, connected };
  const last = lastError();
  const reason = settled === DEADLINE_PASSED
    ? `no answer within ${timeoutMs} ms${last === "" ? "" : ` (${last})`}`
    : last || "unknown error";
  return {
    client,
    unavailable: `Cannot connect to Redis at ${describeTarget(target)}: ${reason}`,
    connected,
  };
}

/** Options for {@linkcode closeRedis}. */
export interface CloseRedisOptions {
  /**
   * Longest wait for pending replies, in ms; then the connection is dropped. A paused or
   * unreachable Redis would otherwise hold the shutdown as long as it stays silent.
   * @default {2000}
   */
  timeoutMs?: number;
}

/**
 * Closes the process-wide client, letting pending replies arrive within `timeoutMs`, then
 * dropping the connection. Safe to call more than once.
 */
export async function closeRedis(options: CloseRedisOptions = {}): Promise<void> {
  const client = shared;
  shared = undefined;
  if (client === undefined) return;
  const timeoutMs = options.timeoutMs ?? 2000;
  try {
    if (!client.isOpen) return;
    if (await withDeadline(client.close(), timeoutMs) === DEADLINE_PASSED) client.destroy();
  } catch {
    try {
      client.destroy();
    } catch { /* already closed */ }
  }
}
