/**
 * Contract test: the original service's clients, run against a real node on a real Redis.
 *
 * Every request below is one the original's operator client code sends, with the same method,
 * path, query and body; every assertion is about what that code reads from the answer (status,
 * field names and JSON types, metric and label names, Redis keys). The clients live in the public
 * repository pikehouse/operator; each group cites the file it comes from:
 *
 * - `subjects/ratelimiter/observer/src/ratelimiter_observer/ratelimiter_client.py` (the management
 *   API client: `get_nodes`, `get_counters`, `get_limits`, `get_blocks`, `reset_counter`,
 *   `update_limit`) and `.../types.py` (the pydantic models it validates answers with: extra fields
 *   are ignored, `int` fields must be integers, `registered_at` is an optional datetime).
 * - `.../subject.py` and `.../invariants.py` (what `observe()` keeps: node `state == "Up"`, counter
 *   `count`, `limit`, `remaining`; the `over_limit` and `ghost_allowing` invariants must not fire on
 *   a healthy service).
 * - `.../prom_client.py` (PromQL over the node's `/metrics`:
 *   `histogram_quantile(0.99, rate(ratelimiter_check_duration_seconds_bucket{node_id="…"}[1m]))` and
 *   `increase(ratelimiter_requests_checked_total{result="allowed", key="…"}[…])`).
 * - `.../redis_client.py` (direct Redis reads: `ZCARD ratelimit:<key>`, `SCAN ratelimit:*` minus
 *   `:seq` keys) and `demo/ratelimiter_health.py` (`GET /api/nodes`, `GET /health` compared with
 *   `"status" == "healthy"`, `SCAN ratelimit:*` keeping only `TYPE` zset, `ZCARD`).
 * - `demo/ratelimiter_chaos.py` and `demo/ratelimiter.py` (`setup_rate_limit`: `PUT
 *   /api/limits/{key}` with `{"limit": 10, "window_ms": 60000}`; counter drift written straight into
 *   Redis: `ZADD ratelimit:<key>` of 15 members `<ms>:drift-<i>` scored with epoch milliseconds,
 *   then `EXPIRE 120`).
 *
 * The Redis reads need `RATELIMITER_KEY_LAYOUT=reference` (the default layout keeps its own keys),
 * so they are a separate test that starts its node with it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { postJson, startNode, type TestNode } from "../_helpers/node_process.ts";
import { startRedis, type TestRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";
import { assertShape, promSamples, shape } from "../_helpers/shape.ts";

/** Headers httpx sends on every request (the observer's HTTP client). */
const HTTPX_HEADERS = {
  accept: "*/*",
  "accept-encoding": "gzip, deflate",
  "user-agent": "python-httpx/0.28.1",
};

/** An answer as the observer sees it: the status and the parsed JSON (or `undefined`). */
interface Answer {
  status: number;
  body: unknown;
  text: string;
}

/** Sends one request the way httpx does: `json=` bodies as compact JSON with its content type. */
async function call(node: TestNode, method: string, path: string, json?: unknown): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...HTTPX_HEADERS } };
  if (json !== undefined) {
    init.headers = { ...HTTPX_HEADERS, "content-type": "application/json" };
    init.body = JSON.stringify(json);
  }
  const res = await fetch(`${node.url}${path}`, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

/** httpx `raise_for_status()`: anything but 2xx makes the observer's call fail. */
function assertOk(answer: Answer, what: string): void {
  assert.ok(
    answer.status >= 200 && answer.status < 300,
    `${what} answered ${answer.status} (the observer raises on it): ${answer.text}`,
  );
}

async function check(node: TestNode, key: string): Promise<number> {
  return (await postJson(`${node.url}/check`, { key })).status;
}

// types.py
const NODE_INFO = shape.object({
  id: shape.string,
  address: shape.string,
  state: shape.string,
  registered_at: shape.optional(shape.datetime),
});
const NODES_RESPONSE = shape.object({ nodes: shape.array(NODE_INFO) });
const COUNTER_INFO = shape.object({
  key: shape.string,
  count: shape.integer,
  limit: shape.integer,
  remaining: shape.integer,
});
const COUNTERS_RESPONSE = shape.object({ counters: shape.array(COUNTER_INFO) });
const LIMITS_RESPONSE = shape.object({
  default_limit: shape.integer,
  default_window_ms: shape.integer,
});
const BLOCKED_KEY_INFO = shape.object({
  key: shape.string,
  current_count: shape.integer,
  limit: shape.integer,
});
const BLOCKS_RESPONSE = shape.object({ blocked: shape.array(BLOCKED_KEY_INFO) });
const UPDATE_LIMIT_RESPONSE = shape.object({
  key: shape.string,
  limit: shape.integer,
  window_ms: shape.integer,
  updated: shape.boolean,
});

interface Counter {
  key: string;
  count: number;
  limit: number;
  remaining: number;
}

const NODE_ID = "contract-1";
const DEFAULT_LIMIT = 10;
const DEFAULT_WINDOW_MS = 60_000;

/** A node on `redis` with the demo's numbers (10 requests per 60 s). */
function startContractNode(redis: TestRedis, env: Record<string, string> = {}): Promise<TestNode> {
  return startNode({
    env: {
      RATELIMITER_REDIS_URL: redis.url,
      RATELIMITER_NODE_ID: NODE_ID,
      RATELIMITER_DEFAULT_LIMIT: String(DEFAULT_LIMIT),
      RATELIMITER_DEFAULT_WINDOW_MS: String(DEFAULT_WINDOW_MS),
      ...env,
    },
  });
}

async function counters(node: TestNode): Promise<Counter[]> {
  const answer = await call(node, "GET", "/api/counters");
  assertOk(answer, "GET /api/counters");
  assertShape(answer.body, COUNTERS_RESPONSE, "GET /api/counters");
  return (answer.body as { counters: Counter[] }).counters;
}

Deno.test({
  name: "The original's observer and demo clients read what they expect from a node on Redis",
  ...opts,
  async fn(t) {
    await using redis = await startRedis();
    await using node = await startContractNode(redis);

    // ratelimiter_client.py get_nodes; subject.py keeps id, address, state; invariants.py node_down.
    await t.step("get_nodes: GET /api/nodes → 200, NodesResponse, this node Up", async () => {
      const answer = await call(node, "GET", "/api/nodes");
      assertOk(answer, "GET /api/nodes");
      assertShape(answer.body, NODES_RESPONSE, "GET /api/nodes");
      const nodes = (answer.body as { nodes: { id: string; state: string }[] }).nodes;
      assert.deepEqual(nodes.map((n) => [n.id, n.state]), [[NODE_ID, "Up"]]);
    });

    // demo/ratelimiter_health.py: redis_connected = health["status"] == "healthy".
    await t.step('health poller: GET /health → 200 with "status": "healthy"', async () => {
      const answer = await call(node, "GET", "/health");
      assertOk(answer, "GET /health");
      assertShape(answer.body, shape.object({ status: shape.string }), "GET /health");
      assert.equal((answer.body as { status: string }).status, "healthy");
    });

    // ratelimiter_client.py get_limits.
    await t.step("get_limits: GET /api/limits → 200, LimitsResponse", async () => {
      const answer = await call(node, "GET", "/api/limits");
      assertOk(answer, "GET /api/limits");
      assertShape(answer.body, LIMITS_RESPONSE, "GET /api/limits");
      const body = answer.body as { default_limit: number; default_window_ms: number };
      assert.equal(body.default_limit, DEFAULT_LIMIT);
      assert.equal(body.default_window_ms, DEFAULT_WINDOW_MS);
    });

    // ratelimiter_client.py update_limit(key, limit): pydantic's model_dump() keeps the None.
    await t.step(
      'update_limit(key, limit): PUT /api/limits/{key} {"limit": 7, "window_ms": null} → 200, default window',
      async () => {
        const answer = await call(node, "PUT", "/api/limits/user:7", { limit: 7, window_ms: null });
        assertOk(answer, "PUT /api/limits/user:7 with window_ms null");
        assertShape(answer.body, UPDATE_LIMIT_RESPONSE, "PUT /api/limits/user:7");
        assert.deepEqual(
          pick(answer.body, ["key", "limit", "window_ms", "updated"]),
          { key: "user:7", limit: 7, window_ms: DEFAULT_WINDOW_MS, updated: true },
        );
      },
    );

    // ratelimiter_client.py update_limit(key, limit, window_ms); demo/ratelimiter_chaos.py
    // setup_rate_limit (demo-chaos-key, 10 per 60 s).
    await t.step(
      'update_limit(key, limit, window_ms) / setup_rate_limit: PUT {"limit": 10, "window_ms": 60000} → 200',
      async () => {
        const answer = await call(node, "PUT", "/api/limits/demo-chaos-key", {
          limit: 10,
          window_ms: 60_000,
        });
        assertOk(answer, "PUT /api/limits/demo-chaos-key");
        assertShape(answer.body, UPDATE_LIMIT_RESPONSE, "PUT /api/limits/demo-chaos-key");
        assert.deepEqual(
          pick(answer.body, ["key", "limit", "window_ms", "updated"]),
          { key: "demo-chaos-key", limit: 10, window_ms: 60_000, updated: true },
        );
      },
    );

    // ratelimiter_client.py get_counters; subject.py; invariants.py check_counters.
    await t.step(
      "get_counters: GET /api/counters → 200, CountersResponse, no invariant fires",
      async () => {
        for (let i = 0; i < 3; i++) assert.equal(await check(node, "user:1"), 200);
        const list = await counters(node);
        const counter = list.find((c) => c.key === "user:1");
        assert.deepEqual(pick(counter, ["key", "count", "limit", "remaining"]), {
          key: "user:1",
          count: 3,
          limit: DEFAULT_LIMIT,
          remaining: DEFAULT_LIMIT - 3,
        });
        for (const c of list) {
          assert.ok(c.count <= c.limit, `over_limit would fire on ${JSON.stringify(c)}`);
          assert.ok(!(c.limit === 0 && c.remaining > 0), `ghost_allowing would fire on ${c.key}`);
        }
      },
    );

    // ratelimiter_client.py get_blocks.
    await t.step(
      "get_blocks: GET /api/blocks → 200, BlocksResponse listing a blocked key",
      async () => {
        const put = await call(node, "PUT", "/api/limits/blocked-key", {
          limit: 2,
          window_ms: 60_000,
        });
        assertOk(put, "PUT /api/limits/blocked-key");
        assert.deepEqual(
          [await check(node, "blocked-key"), await check(node, "blocked-key")],
          [200, 200],
        );
        assert.equal(await check(node, "blocked-key"), 429);
        const answer = await call(node, "GET", "/api/blocks");
        assertOk(answer, "GET /api/blocks");
        assertShape(answer.body, BLOCKS_RESPONSE, "GET /api/blocks");
        const blocked = (answer.body as { blocked: unknown[] }).blocked;
        assert.deepEqual(
          blocked.map((b) => pick(b, ["key", "current_count", "limit"])),
          [{ key: "blocked-key", current_count: 2, limit: 2 }],
        );
      },
    );

    // ratelimiter_client.py reset_counter: a POST with no body, only raise_for_status() is read.
    await t.step(
      "reset_counter: POST /api/counters/{key}/reset with no body → 2xx, key allowed again",
      async () => {
        const answer = await call(node, "POST", "/api/counters/blocked-key/reset");
        assertOk(answer, "POST /api/counters/blocked-key/reset");
        assert.equal(await check(node, "blocked-key"), 200);
      },
    );

    // prom_client.py get_node_latency_p99 and get_total_allowed_requests, over /metrics.
    await t.step(
      "Prometheus: ratelimiter_check_duration_seconds_bucket{node_id, le} populated, " +
        'ratelimiter_requests_checked_total{node_id, result="allowed"}',
      async () => {
        const res = await fetch(`${node.url}/metrics`, { headers: HTTPX_HEADERS });
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
        const samples = promSamples(await res.text());
        const buckets = samples.filter((s) =>
          s.name === "ratelimiter_check_duration_seconds_bucket" && s.labels.node_id === NODE_ID
        );
        assert.ok(buckets.length > 0, "no ratelimiter_check_duration_seconds_bucket{node_id}");
        assert.ok(buckets.every((s) => "le" in s.labels), "a bucket without le");
        const inf = buckets.find((s) => s.labels.le === "+Inf");
        assert.ok(inf !== undefined && Number(inf.value) > 0, "the latency histogram is empty");
        const allowed = samples.find((s) =>
          s.name === "ratelimiter_requests_checked_total" && s.labels.node_id === NODE_ID &&
          s.labels.result === "allowed"
        );
        assert.ok(allowed !== undefined && Number(allowed.value) > 0, "no allowed checks counted");
        // The `key` label get_total_allowed_requests filters on is deliberately absent (a client
        // value is never a label): its query finds no series and the observer reads 0.
        assert.ok(samples.every((s) => !("key" in s.labels)), "a rate-limit key used as a label");
      },
    );
  },
});

/** `ZCARD`/`TTL`/… answers as numbers. */
async function int(redis: TestRedis, ...args: string[]): Promise<number> {
  return Number(await redis.cli(...args));
}

/** redis_client.py get_all_counter_keys: `SCAN ratelimit:*`, `:seq` keys skipped, prefix cut. */
async function scanCounterKeys(redis: TestRedis): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, ...page] =
      (await redis.cli("SCAN", cursor, "MATCH", "ratelimit:*", "COUNT", "100"))
        .split("\n");
    cursor = next!;
    keys.push(...page.filter((k) => k !== ""));
  } while (cursor !== "0");
  return keys;
}

Deno.test({
  name:
    "RATELIMITER_KEY_LAYOUT=reference: the observer's direct Redis reads see what the API reports",
  ...opts,
  async fn(t) {
    await using redis = await startRedis();
    await using node = await startContractNode(redis, { RATELIMITER_KEY_LAYOUT: "reference" });

    const before = Date.now();
    for (let i = 0; i < 3; i++) assert.equal(await check(node, "api-users"), 200);
    const after = Date.now();

    // redis_client.py get_counter_value; invariants.py check_counter_drift compares it with the API.
    await t.step(
      "get_counter_value: ZCARD ratelimit:<key> equals /api/counters' count",
      async () => {
        assert.equal(await int(redis, "ZCARD", "ratelimit:api-users"), 3);
        const counter = (await counters(node)).find((c) => c.key === "api-users");
        assert.equal(counter?.count, 3);
      },
    );

    // redis_client.py get_all_counter_keys; demo/ratelimiter_health.py keeps TYPE zset only.
    await t.step(
      "get_all_counter_keys: SCAN ratelimit:* lists the key, as a sorted set",
      async () => {
        const keys = await scanCounterKeys(redis);
        const shown = keys.filter((k) => !k.endsWith(":seq") && !k.includes(":limit:"))
          .map((k) => k.replace("ratelimit:", ""));
        assert.ok(shown.includes("api-users"), `SCAN ratelimit:* found ${JSON.stringify(keys)}`);
        assert.equal(await redis.cli("TYPE", "ratelimit:api-users"), "zset");
      },
    );

    // demo/ratelimiter_chaos.py writes members scored with epoch milliseconds beside the service's.
    await t.step(
      "the sorted set is scored in epoch milliseconds, one unique member per request",
      async () => {
        const lines = (await redis.cli("ZRANGE", "ratelimit:api-users", "0", "-1", "WITHSCORES"))
          .split("\n").filter((line) => line !== "");
        assert.equal(
          lines.length,
          6,
          `ZRANGE ratelimit:api-users WITHSCORES: ${JSON.stringify(lines)}`,
        );
        const members = lines.filter((_, i) => i % 2 === 0);
        const scores = lines.filter((_, i) => i % 2 === 1).map(Number);
        assert.equal(new Set(members).size, 3);
        for (const score of scores) {
          assert.ok(score >= before - 1 && score <= after + 1, `score ${score} is not now in ms`);
        }
      },
    );

    await t.step("no ratelimit:* key lives forever", async () => {
      const keys = await scanCounterKeys(redis);
      assert.ok(keys.length > 0, "no ratelimit:* key to look at");
      for (const key of keys) {
        assert.ok(await int(redis, "TTL", key) > 0, `${key} has no expiry`);
      }
    });

    // demo/ratelimiter_chaos.py inject_redis_pause: 15 entries over a limit of 10, straight in Redis.
    await t.step(
      "counter drift written into ratelimit:counter-drift-demo is seen by the API",
      async () => {
        const now = Date.now();
        await redis.cli("DEL", "ratelimit:counter-drift-demo");
        for (let i = 0; i < 15; i++) {
          const score = now + (i > 0 ? Math.trunc((i / 14) * 50_000) : 0);
          await redis.cli(
            "ZADD",
            "ratelimit:counter-drift-demo",
            String(score),
            `${score}:drift-${i}`,
          );
        }
        await redis.cli("EXPIRE", "ratelimit:counter-drift-demo", "120");
        assert.equal(await int(redis, "ZCARD", "ratelimit:counter-drift-demo"), 15);

        const counter = (await counters(node)).find((c) => c.key === "counter-drift-demo");
        assert.deepEqual(pick(counter, ["key", "count", "limit"]), {
          key: "counter-drift-demo",
          count: 15,
          limit: DEFAULT_LIMIT,
        });
        const blocks = await call(node, "GET", "/api/blocks");
        assertOk(blocks, "GET /api/blocks");
        assertShape(blocks.body, BLOCKS_RESPONSE, "GET /api/blocks");
        const keys = (blocks.body as { blocked: { key: string }[] }).blocked.map((b) => b.key);
        assert.ok(keys.includes("counter-drift-demo"), `blocked: ${JSON.stringify(keys)}`);
        assert.equal(await check(node, "counter-drift-demo"), 429);
      },
    );

    // The demo's remediation: the agent calls reset_counter, then the observer reads ZCARD again.
    await t.step("reset_counter empties ratelimit:<key>", async () => {
      const answer = await call(node, "POST", "/api/counters/counter-drift-demo/reset");
      assertOk(answer, "POST /api/counters/counter-drift-demo/reset");
      assert.equal(await int(redis, "ZCARD", "ratelimit:counter-drift-demo"), 0);
      assert.equal(await check(node, "counter-drift-demo"), 200);
    });
  },
});

/** The named fields of `value` (or `undefined` when it is not an object). */
function pick(value: unknown, names: string[]): Record<string, unknown> | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as Record<string, unknown>;
  return Object.fromEntries(names.map((n) => [n, record[n]]));
}
