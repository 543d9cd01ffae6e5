import assert from "node:assert/strict";
import { CONFIG_ENV_VARS, ConfigError, parseConfig, redisTarget } from "../src/config.ts";
import { DEFAULT_LIMITS_POLICY } from "../src/limiter/limits_policy.ts";
import { ALGORITHMS } from "../src/limiter/types.ts";

Deno.test("parseConfig() applies the documented defaults", () => {
  const config = parseConfig({}, { hostname: "box" });
  assert.deepEqual(config, {
    redisUrl: undefined,
    redisMode: "standalone",
    redisSentinelMaster: undefined,
    redisSentinelPassword: undefined,
    reusePort: false,
    nodeId: "box-8000",
    nodeHost: "localhost",
    nodePort: 8000,
    listenHost: "0.0.0.0",
    defaultLimit: 100,
    defaultWindowMs: 60_000,
    defaultAlgorithm: "sliding_log",
    nodeTtlSeconds: 30,
    nodeHeartbeatSeconds: 10,
    logLevel: "info",
    keyPrefix: "rl",
    keyLayout: "default",
    adminToken: undefined,
    adminReadAuth: false,
    storeTimeoutMs: 100,
    failureMode: "open",
    shutdownGraceMs: 10_000,
    memoryMaxKeys: 1_000_000,
    bodyTimeoutMs: 10_000,

    blockCache: true,
    coalesce: true,
    limitsPolicy: DEFAULT_LIMITS_POLICY,
    grpcPort: 8081,
    rlsRateLimitHeaders: false,
    rulesFile: undefined,
  });
});

Deno.test("parseConfig() reads every variable", () => {
  const config = parseConfig({
    RATELIMITER_REDIS_URL: "redis://:secret@127.0.0.1:6380/2",
    RATELIMITER_NODE_ID: "node-a",
    RATELIMITER_NODE_HOST: "10.0.0.5",
    RATELIMITER_NODE_PORT: "9001",
    RATELIMITER_LISTEN_HOST: "127.0.0.1",
    RATELIMITER_DEFAULT_LIMIT: "5",
    RATELIMITER_DEFAULT_WINDOW_MS: "1000",
    RATELIMITER_NODE_TTL_SECONDS: "5",
    RATELIMITER_NODE_HEARTBEAT_SECONDS: "1",
    RATELIMITER_LOG_LEVEL: "DEBUG",
  });
  assert.equal(config.redisUrl, "redis://:secret@127.0.0.1:6380/2");
  assert.equal(config.nodeId, "node-a");
  assert.equal(config.nodeHost, "10.0.0.5");
  assert.equal(config.nodePort, 9001);
  assert.equal(config.listenHost, "127.0.0.1");
  assert.equal(config.defaultLimit, 5);
  assert.equal(config.defaultWindowMs, 1000);
  assert.equal(config.nodeTtlSeconds, 5);
  assert.equal(config.nodeHeartbeatSeconds, 1);
  assert.equal(config.logLevel, "debug");
});

Deno.test("parseConfig() derives distinct default node ids from host and port", () => {
  const a = parseConfig({ RATELIMITER_NODE_PORT: "8001" }, { hostname: "h" });
  const b = parseConfig({ RATELIMITER_NODE_PORT: "8002" }, { hostname: "h" });
  assert.notEqual(a.nodeId, b.nodeId);
});

Deno.test("parseConfig() reads RATELIMITER_REUSE_PORT and then tells processes apart by pid", () => {
  assert.equal(parseConfig({}).reusePort, false);
  const redis = { RATELIMITER_REDIS_URL: "redis://127.0.0.1:6379", RATELIMITER_NODE_PORT: "8001" };
  const a = parseConfig({ ...redis, RATELIMITER_REUSE_PORT: "true" }, { hostname: "h", pid: 41 });
  const b = parseConfig({ ...redis, RATELIMITER_REUSE_PORT: "true" }, { hostname: "h", pid: 42 });
  assert.equal(a.reusePort, true);
  assert.equal(a.nodeId, "h-8001-41");
  assert.equal(b.nodeId, "h-8001-42");
  // Without the setting the id stays host-port, whatever the pid.
  assert.equal(parseConfig(redis, { hostname: "h", pid: 41 }).nodeId, "h-8001");
  // An explicit id wins.
  const named = parseConfig(
    { ...redis, RATELIMITER_REUSE_PORT: "true", RATELIMITER_NODE_ID: "edge-1" },
    { hostname: "h", pid: 41 },
  );
  assert.equal(named.nodeId, "edge-1");
});

Deno.test("parseConfig() refuses RATELIMITER_REUSE_PORT on the embedded store", () => {
  assert.throws(
    () => parseConfig({ RATELIMITER_REUSE_PORT: "true" }),
    /Cannot use "RATELIMITER_REUSE_PORT" without RATELIMITER_REDIS_URL/,
  );
});

Deno.test("parseConfig() names every bad variable, the value and what was expected", () => {
  let error: unknown;
  try {
    parseConfig({
      RATELIMITER_NODE_PORT: "abc",
      RATELIMITER_DEFAULT_LIMIT: "0",
      RATELIMITER_DEFAULT_WINDOW_MS: "1.5",
      RATELIMITER_LOG_LEVEL: "loud",
      RATELIMITER_REDIS_URL: "http://x",
    });
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ConfigError);
  assert.equal(error.issues.length, 5);
  assert.match(
    error.message,
    /Cannot parse "RATELIMITER_NODE_PORT": expected an integer from 1 to 65535, received "abc"/,
  );
  assert.match(
    error.message,
    /"RATELIMITER_DEFAULT_LIMIT": expected an integer from 1 to 1000000, received "0"/,
  );
  assert.match(error.message, /"RATELIMITER_DEFAULT_WINDOW_MS".*received "1.5"/);
  assert.match(error.message, /"RATELIMITER_LOG_LEVEL": expected one of debug, info, warn, error/);
  assert.match(error.message, /"RATELIMITER_REDIS_URL": expected a redis:\/\/ or rediss:\/\/ URL/);
});

Deno.test("parseConfig() rejects a heartbeat not below the TTL", () => {
  assert.throws(
    () =>
      parseConfig({ RATELIMITER_NODE_TTL_SECONDS: "10", RATELIMITER_NODE_HEARTBEAT_SECONDS: "10" }),
    /NODE_HEARTBEAT_SECONDS.*below/,
  );
});

Deno.test("parseConfig() reads RATELIMITER_KEY_LAYOUT and rejects an unknown one", () => {
  const redis = { RATELIMITER_REDIS_URL: "redis://127.0.0.1:6379" };
  assert.equal(parseConfig(redis).keyLayout, "default");
  assert.equal(
    parseConfig({ ...redis, RATELIMITER_KEY_LAYOUT: "Reference" }).keyLayout,
    "reference",
  );
  assert.throws(
    () => parseConfig({ ...redis, RATELIMITER_KEY_LAYOUT: "python" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.issues, [
        'Cannot parse "RATELIMITER_KEY_LAYOUT": expected one of default, reference, received "python"',
      ]);
      return true;
    },
  );
});

Deno.test("parseConfig() refuses the reference key layout where it cannot hold", () => {
  const reference = { RATELIMITER_KEY_LAYOUT: "reference" };
  const redis = { ...reference, RATELIMITER_REDIS_URL: "redis://127.0.0.1:6379" };
  assert.throws(
    () => parseConfig(reference),
    /Cannot use "RATELIMITER_KEY_LAYOUT" "reference" without RATELIMITER_REDIS_URL/,
  );
  assert.throws(
    () => parseConfig({ ...redis, RATELIMITER_MAX_COST: "sliding_log=10001" }),
    /sliding_log RATELIMITER_MAX_COST above 10000: .* received 10001/,
  );
  assert.equal(
    parseConfig({ ...redis, RATELIMITER_MAX_COST: "sliding_log=10000" }).limitsPolicy.sliding_log
      .cost,
    10_000,
  );
  // Other algorithms keep the default layout, so their maxima are not bounded by it.
  assert.equal(
    parseConfig({ ...redis, RATELIMITER_MAX_COST: "gcra=1000000" }).limitsPolicy.gcra.cost,
    1_000_000,
  );
  for (const prefix of ["ratelimit", "ratelimit:x"]) {
    assert.throws(
      () => parseConfig({ ...redis, RATELIMITER_KEY_PREFIX: prefix }),
      /KEY_PREFIX .*owns the "ratelimit:" namespace/,
    );
  }
  assert.equal(
    parseConfig({ ...redis, RATELIMITER_KEY_PREFIX: "ratelimiter" }).keyPrefix,
    "ratelimiter",
  );
});

Deno.test("parseConfig() rejects a zero window and a port past 65535", () => {
  assert.throws(() => parseConfig({ RATELIMITER_DEFAULT_WINDOW_MS: "0" }), ConfigError);
  assert.throws(() => parseConfig({ RATELIMITER_NODE_PORT: "65536" }), ConfigError);
});

Deno.test("parseConfig() accepts every algorithm as RATELIMITER_DEFAULT_ALGORITHM", () => {
  for (const algorithm of ALGORITHMS) {
    const config = parseConfig({ RATELIMITER_DEFAULT_ALGORITHM: algorithm });
    assert.equal(config.defaultAlgorithm, algorithm);
  }
  assert.throws(
    () => parseConfig({ RATELIMITER_DEFAULT_ALGORITHM: "leaky_bucket" }),
    /RATELIMITER_DEFAULT_ALGORITHM.*expected one of sliding_log, sliding_window, fixed_window, token_bucket, gcra/,
  );
});

Deno.test("parseConfig() reads RATELIMITER_BLOCK_CACHE as a boolean", () => {
  assert.equal(parseConfig({ RATELIMITER_BLOCK_CACHE: "false" }).blockCache, false);
  assert.equal(parseConfig({ RATELIMITER_BLOCK_CACHE: "on" }).blockCache, true);
  assert.throws(
    () => parseConfig({ RATELIMITER_BLOCK_CACHE: "maybe" }),
    /"RATELIMITER_BLOCK_CACHE": expected true or false, received "maybe"/,
  );
});

Deno.test("parseConfig() reads RATELIMITER_COALESCE as a boolean, on by default", () => {
  assert.equal(parseConfig({}).coalesce, true);
  assert.equal(parseConfig({ RATELIMITER_COALESCE: "false" }).coalesce, false);
  assert.throws(
    () => parseConfig({ RATELIMITER_COALESCE: "sometimes" }),
    /"RATELIMITER_COALESCE": expected true or false, received "sometimes"/,
  );
});

Deno.test("CONFIG_ENV_VARS lists every variable parseConfig() reads, prefixed", () => {
  assert.ok(CONFIG_ENV_VARS.length > 10);
  for (const name of CONFIG_ENV_VARS) assert.match(name, /^RATELIMITER_[A-Z_]+$/);
  // Each listed variable changes the result or the error, so none is listed without being read.
  const seen: Record<string, string> = {};
  for (const name of CONFIG_ENV_VARS) seen[name] = "\u0000invalid";
  const error = (() => {
    try {
      parseConfig(seen);
    } catch (e) {
      return e;
    }
  })();
  assert.ok(error instanceof ConfigError);
  for (const name of CONFIG_ENV_VARS) assert.match(error.message, new RegExp(`"${name}"`));
});

Deno.test("parseConfig() defaults the limits policy to 10,000 over a day for sliding_log only", () => {
  const { limitsPolicy } = parseConfig({});
  assert.deepEqual(limitsPolicy.sliding_log, { limit: 10_000, windowMs: 86_400_000, cost: 10_000 });
  for (const algorithm of ALGORITHMS.filter((a) => a !== "sliding_log")) {
    assert.deepEqual(limitsPolicy[algorithm], {
      limit: 1_000_000,
      windowMs: 30 * 86_400_000,
      cost: 1_000_000,
    });
  }
});

Deno.test("parseConfig() reads the limits policy as one value or a default then per algorithm", () => {
  const { limitsPolicy } = parseConfig({
    RATELIMITER_MAX_LIMIT: "500000",
    RATELIMITER_MAX_WINDOW_MS: " 3600000, sliding_log = 60000 ,GCRA=7200000",
    RATELIMITER_MAX_COST: "sliding_log=100",
  });
  // One value applies to every algorithm, sliding_log included.
  for (const algorithm of ALGORITHMS) assert.equal(limitsPolicy[algorithm].limit, 500_000);
  assert.equal(limitsPolicy.sliding_log.windowMs, 60_000);
  assert.equal(limitsPolicy.gcra.windowMs, 7_200_000);
  assert.equal(limitsPolicy.fixed_window.windowMs, 3_600_000);
  // Algorithms a list does not name, with no value for all, keep their defaults.
  assert.equal(limitsPolicy.sliding_log.cost, 100);
  assert.equal(limitsPolicy.token_bucket.cost, 1_000_000);
});

Deno.test("parseConfig() rejects a bad limits policy, naming the variable and the value", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [
      { RATELIMITER_MAX_LIMIT: "0" },
      /Cannot parse "RATELIMITER_MAX_LIMIT": expected an integer from 1 to 1000000 or a list like "1000000,sliding_log=10000", received "0"/,
    ],
    [
      { RATELIMITER_MAX_COST: "1000001" },
      /Cannot parse "RATELIMITER_MAX_COST": expected an integer from 1 to 1000000/,
    ],
    [
      { RATELIMITER_MAX_WINDOW_MS: "2592000001" },
      /Cannot parse "RATELIMITER_MAX_WINDOW_MS": expected an integer from 1 to 2592000000/,
    ],
    [
      { RATELIMITER_MAX_LIMIT: "10,leaky=5" },
      /Cannot parse "RATELIMITER_MAX_LIMIT": expected one of sliding_log, .* before "=", received "leaky=5"/,
    ],
    [
      { RATELIMITER_MAX_LIMIT: "gcra=5,gcra=6" },
      /expected each algorithm at most once, received "gcra=5,gcra=6"/,
    ],
    [{ RATELIMITER_MAX_LIMIT: "5,6" }, /expected at most one value without an algorithm/],
    [{ RATELIMITER_MAX_LIMIT: "gcra=5=6" }, /expected an integer from 1 to 1000000/],
    [{ RATELIMITER_MAX_LIMIT: "5," }, /expected an integer from 1 to 1000000/],
  ];
  for (const [env, expected] of cases) {
    assert.throws(() => parseConfig(env), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, expected);
      return true;
    });
  }
});

Deno.test("parseConfig() never echoes an invalid admin token or Redis password", () => {
  for (const token of ["short", "has a space in it, long enough", "x".repeat(513)]) {
    const error = (() => {
      try {
        parseConfig({ RATELIMITER_ADMIN_TOKEN: token });
      } catch (e) {
        return e;
      }
    })();
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /"RATELIMITER_ADMIN_TOKEN": expected 16 to 512 printable ASCII/);
    assert.match(error.message, new RegExp(`received ${token.length} characters`));
    assert.ok(!error.message.includes(token), error.message);
    assert.ok(!error.issues.some((issue) => issue.includes(token)));
  }
  for (const url of ["http://:hunter2@host", "redis://:hunter2@host:99999"]) {
    assert.throws(
      () => parseConfig({ RATELIMITER_REDIS_URL: url }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes("hunter2"),
    );
  }
});

Deno.test("parseConfig() reads the gRPC port (0 turns it off) and the RLS headers setting", () => {
  const config = parseConfig({
    RATELIMITER_GRPC_PORT: "0",
    RATELIMITER_RLS_RATELIMIT_HEADERS: "true",
  });
  assert.equal(config.grpcPort, 0);
  assert.equal(config.rlsRateLimitHeaders, true);
  assert.equal(parseConfig({ RATELIMITER_GRPC_PORT: "9081" }).grpcPort, 9081);
  assert.throws(
    () => parseConfig({ RATELIMITER_GRPC_PORT: "70000" }),
    /Cannot parse "RATELIMITER_GRPC_PORT": expected an integer from 0 to 65535/,
  );
});

Deno.test("parseConfig() reads RATELIMITER_RULES_FILE as a path, unset meaning no rules", () => {
  assert.equal(parseConfig({}).rulesFile, undefined);
  assert.equal(
    parseConfig({ RATELIMITER_RULES_FILE: "/etc/ratelimiter/rules" }).rulesFile,
    "/etc/ratelimiter/rules",
  );
  assert.throws(
    () => parseConfig({ RATELIMITER_RULES_FILE: "a\0b" }),
    /RATELIMITER_RULES_FILE/,
  );
});

Deno.test("parseConfig() reads the Redis mode, URL lists and sentinel settings", () => {
  const cluster = parseConfig({
    RATELIMITER_REDIS_MODE: "Cluster",
    RATELIMITER_REDIS_URL: " redis://u:pw@127.0.0.1:7000 , redis://u:pw@127.0.0.1:7001",
  });
  assert.equal(cluster.redisMode, "cluster");
  assert.equal(cluster.redisUrl, "redis://u:pw@127.0.0.1:7000,redis://u:pw@127.0.0.1:7001");
  assert.deepEqual(redisTarget(cluster), {
    mode: "cluster",
    urls: ["redis://u:pw@127.0.0.1:7000", "redis://u:pw@127.0.0.1:7001"],
    sentinelMaster: undefined,
    sentinelPassword: undefined,
  });
  const sentinel = parseConfig({
    RATELIMITER_REDIS_MODE: "sentinel",
    RATELIMITER_REDIS_URL: "rediss://:datapw@s1:26379,rediss://:datapw@s2:26379",
    RATELIMITER_REDIS_SENTINEL_MASTER: "mymaster",
    RATELIMITER_REDIS_SENTINEL_PASSWORD: "sentinel-secret",
  });
  assert.equal(sentinel.redisMode, "sentinel");
  assert.equal(sentinel.redisSentinelMaster, "mymaster");
  assert.equal(sentinel.redisSentinelPassword, "sentinel-secret");
  assert.equal(redisTarget(sentinel)?.urls.length, 2);
  assert.equal(parseConfig({ RATELIMITER_REDIS_URL: "redis://h:1" }).redisMode, "standalone");
  assert.equal(redisTarget(parseConfig({})), undefined);
});

Deno.test("parseConfig() refuses Redis mode settings that cannot hold, naming each", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ RATELIMITER_REDIS_MODE: "replicated" }, /REDIS_MODE.*one of standalone, cluster, sentinel/],
    [{ RATELIMITER_REDIS_MODE: "cluster" }, /"cluster" without RATELIMITER_REDIS_URL/],
    [{ RATELIMITER_REDIS_MODE: "sentinel" }, /"sentinel" without RATELIMITER_REDIS_URL/],
    [{ RATELIMITER_REDIS_URL: "redis://a:1,redis://b:2" }, /2 URLs in standalone mode/],
    [
      { RATELIMITER_REDIS_MODE: "cluster", RATELIMITER_REDIS_URL: "redis://a:1,http://b:2" },
      /expected a redis:\/\/ or rediss:\/\/ URL.*"http:\/\/b:2\/?"/,
    ],
    [
      { RATELIMITER_REDIS_MODE: "cluster", RATELIMITER_REDIS_URL: "redis://a:1,rediss://b:2" },
      /every URL redis:\/\/ or every URL rediss:\/\//,
    ],
    [
      { RATELIMITER_REDIS_MODE: "cluster", RATELIMITER_REDIS_URL: "redis://a:1/3" },
      /only database 0/,
    ],
    [
      {
        RATELIMITER_REDIS_MODE: "cluster",
        RATELIMITER_REDIS_URL: "redis://a:1",
        RATELIMITER_KEY_LAYOUT: "reference",
        RATELIMITER_MAX_COST: "sliding_log=100",
      },
      /"reference" in cluster mode/,
    ],
    [
      { RATELIMITER_REDIS_MODE: "sentinel", RATELIMITER_REDIS_URL: "redis://s:26379" },
      /without RATELIMITER_REDIS_SENTINEL_MASTER/,
    ],
    [
      { RATELIMITER_REDIS_URL: "redis://h:1", RATELIMITER_REDIS_SENTINEL_MASTER: "m" },
      /REDIS_SENTINEL_MASTER" in standalone mode/,
    ],
    [
      {
        RATELIMITER_REDIS_MODE: "sentinel",
        RATELIMITER_REDIS_URL: "redis://s:26379",
        RATELIMITER_REDIS_SENTINEL_MASTER: "bad name!",
      },
      /REDIS_SENTINEL_MASTER.*1 to 128 characters/,
    ],
  ];
  for (const [env, expected] of cases) {
    assert.throws(() => parseConfig(env), (error: unknown) => {
      assert.ok(error instanceof ConfigError, JSON.stringify(env));
      assert.match(error.message, expected);
      return true;
    });
  }
});

Deno.test("parseConfig() never echoes a Redis or sentinel password in its errors", () => {
  const envs: Record<string, string>[] = [
    {
      RATELIMITER_REDIS_MODE: "cluster",
      RATELIMITER_REDIS_URL: "redis://:hunter2@a:1,ftp://:hunter2@b",
    },
    { RATELIMITER_REDIS_URL: "redis://:hunter2@a:1,redis://:hunter2@b:2" },
    { RATELIMITER_REDIS_MODE: "cluster", RATELIMITER_REDIS_URL: "redis://:hunter2@a:1/4" },
    {
      RATELIMITER_REDIS_MODE: "sentinel",
      RATELIMITER_REDIS_URL: "redis://:hunter2@s:1",
      RATELIMITER_REDIS_SENTINEL_MASTER: "m",
      RATELIMITER_REDIS_SENTINEL_PASSWORD: "hunter2 with spaces",
    },
    { RATELIMITER_REDIS_URL: "redis://h:1", RATELIMITER_REDIS_SENTINEL_PASSWORD: "hunter2" },
  ];
  for (const env of envs) {
    assert.throws(() => parseConfig(env), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.doesNotMatch(error.message, /hunter2/, error.message);
      return true;
    });
  }
});
