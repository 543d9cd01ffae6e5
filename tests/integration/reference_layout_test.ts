/**
 * `RATELIMITER_KEY_LAYOUT=reference` (issue 11): sliding_log counters stored as the original
 * Python service stores them, a sorted set at `ratelimit:<key>` scored in epoch milliseconds with
 * one member per unit, so tools reading or writing those keys directly share the API's counts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createRedisClient, type RedisClient } from "../../src/redis/client.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";
import { postJson, startNode } from "../_helpers/node_process.ts";
import { startRedis, type TestRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";
import { ALL_CASES, runStoreCases } from "../store/_cases.ts";

const DEFAULTS = { limit: 10, windowMs: 60_000 };

/** An app over a reference-layout RedisStore on a fresh redis-server. */
async function referenceApp(redis: TestRedis) {
  const client = await createRedisClient(redis.url);
  const store = new RedisStore({ client, keyLayout: "reference", referenceDefaults: DEFAULTS });
  const { app } = makeTestApp({ store });
  return { app, client, store };
}

async function check(
  app: ReturnType<typeof makeTestApp>["app"],
  body: Record<string, unknown>,
) {
  const res = await app.request("/check", jsonRequest({ limit: 10, window_ms: 60_000, ...body }));
  return { status: res.status, body: await res.json() };
}

/** Every key in Redis, sorted. */
async function allKeys(client: RedisClient): Promise<string[]> {
  return (await client.sendCommand<string[]>(["KEYS", "*"])).sort();
}

/** Adds `n` members to `ratelimit:<key>` scored now, as the original's chaos demo does. */
async function injectDrift(client: RedisClient, key: string, n: number) {
  const now = Date.now();
  const args = ["ZADD", `ratelimit:${key}`];
  for (let i = 0; i < n; i++) args.push(String(now + i), `${now + i}:drift-${i}`);
  await client.sendCommand(args);
  await client.sendCommand(["EXPIRE", `ratelimit:${key}`, "120"]);
}

Deno.test({
  name: "Reference layout: N checks leave N members at ratelimit:<key>, as reported, with a TTL",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const { app, client } = await referenceApp(redis);
    try {
      let last;
      for (let i = 0; i < 4; i++) last = await check(app, { key: "user:1" });
      assert.equal(last!.status, 200);
      assert.equal(last!.body.remaining, 6);
      assert.equal(await client.sendCommand(["ZCARD", "ratelimit:user:1"]), 4);
      const ttl = await client.sendCommand<number>(["PTTL", "ratelimit:user:1"]);
      assert.ok(ttl > 0 && ttl <= 61_001, `TTL ${ttl}`);
      const seqTtl = await client.sendCommand<number>(["PTTL", "ratelimit:user:1:seq"]);
      assert.ok(seqTtl > 0, `seq TTL ${seqTtl}`);
      // Scores are epoch milliseconds, members unique "<ms>:<n>".
      const entries = await client.sendCommand<string[]>([
        "ZRANGE",
        "ratelimit:user:1",
        "0",
        "-1",
        "WITHSCORES",
      ]);
      for (let i = 0; i < entries.length; i += 2) {
        const score = Number(entries[i + 1]);
        assert.ok(Math.abs(score - Date.now()) < 60_000, `score ${score}`);
        assert.match(entries[i]!, new RegExp(`^${score}:\\d+$`));
      }
      // A cost counts one member per unit.
      const costly = await check(app, { key: "user:1", cost: 3 });
      assert.equal(costly.body.remaining, 3);
      assert.equal(await client.sendCommand(["ZCARD", "ratelimit:user:1"]), 7);
      // Only sliding_log moves; no key of the default layout holds it.
      assert.deepEqual(await allKeys(client), ["ratelimit:user:1", "ratelimit:user:1:seq"]);
      // Other algorithms keep the default layout.
      await check(app, { key: "user:1", algorithm: "fixed_window" });
      assert.deepEqual(await allKeys(client), [
        "ratelimit:user:1",
        "ratelimit:user:1:seq",
        "rl:fw:{user:1}",
      ]);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "Reference layout: members added straight into Redis count, and can block",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const { app, client } = await referenceApp(redis);
    try {
      await check(app, { key: "drift" });
      await injectDrift(client, "drift", 7);
      const next = await check(app, { key: "drift" });
      assert.equal(next.status, 200);
      assert.equal(next.body.remaining, 1);
      await check(app, { key: "drift" });
      const blocked = await check(app, { key: "drift" });
      assert.equal(blocked.status, 429);
      assert.equal(await client.sendCommand(["ZCARD", "ratelimit:drift"]), 10);
      // An over-limit drift written alone (the demo's counter-drift key) blocks at once.
      await injectDrift(client, "counter-drift-demo", 15);
      assert.equal((await check(app, { key: "counter-drift-demo" })).status, 429);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "Reference layout: /api/counters lists reference keys with their count; reset deletes them",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const { app, client } = await referenceApp(redis);
    try {
      for (let i = 0; i < 3; i++) await check(app, { key: "listed" });
      await check(app, { key: "hashed", algorithm: "sliding_window" });
      await injectDrift(client, "demo-only", 15);
      // The original's other keys under ratelimit: are not counters.
      await client.sendCommand(["HSET", "ratelimit:limit:listed", "limit", "10", "window_ms", "1"]);
      const res = await app.request("/api/counters");
      assert.equal(res.status, 200);
      const counters = (await res.json()).counters as Record<string, unknown>[];
      const byKey = Object.fromEntries(counters.map((c) => [`${c.key}/${c.algorithm}`, c]));
      assert.deepEqual(Object.keys(byKey).sort(), [
        "demo-only/sliding_log",
        "hashed/sliding_window",
        "listed/sliding_log",
      ]);
      assert.equal(byKey["listed/sliding_log"]!.count, 3);
      assert.equal(byKey["listed/sliding_log"]!.limit, 10);
      assert.equal(byKey["demo-only/sliding_log"]!.count, 15);
      assert.equal(byKey["demo-only/sliding_log"]!.remaining, 0);
      assert.equal(byKey["demo-only/sliding_log"]!.blocked, true);
      // A prefix filter applies to both layouts.
      const filtered = await app.request("/api/counters?prefix=lis");
      const keys = ((await filtered.json()).counters as { key: string }[]).map((c) => c.key);
      assert.deepEqual(keys, ["listed"]);

      const reset = await app.request("/api/counters/listed/reset", { method: "POST" });
      assert.deepEqual(await reset.json(), { key: "listed", reset: true });
      assert.equal(await client.sendCommand(["EXISTS", "ratelimit:listed"]), 0);
      assert.equal(await client.sendCommand(["EXISTS", "ratelimit:listed:seq"]), 0);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "Reference layout: peeks write nothing",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const { app, client } = await referenceApp(redis);
    try {
      const empty = await check(app, { key: "peeked", cost: 0 });
      assert.equal(empty.status, 200);
      assert.deepEqual(await allKeys(client), []);
      await check(app, { key: "peeked", cost: 2 });
      const before = await client.sendCommand<string[]>(["ZRANGE", "ratelimit:peeked", "0", "-1"]);
      const peek = await check(app, { key: "peeked", cost: 0 });
      assert.equal(peek.body.remaining, 8);
      await app.request("/api/counters");
      assert.deepEqual(
        await client.sendCommand(["ZRANGE", "ratelimit:peeked", "0", "-1"]),
        before,
      );
      assert.equal(await client.sendCommand(["GET", "ratelimit:peeked:seq"]), "2");
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "Reference layout: 200 concurrent checks against a limit of 50 allow exactly 50",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const { app, client } = await referenceApp(redis);
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, () => check(app, { key: "hot", limit: 50 })),
      );
      assert.equal(results.filter((r) => r.status === 200).length, 50);
      assert.equal(results.filter((r) => r.status === 429).length, 150);
      assert.equal(await client.sendCommand(["ZCARD", "ratelimit:hot"]), 50);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisStore refuses a sliding_log cost above 10,000 in the reference layout before any I/O",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const { client, store } = await referenceApp(redis);
    try {
      await assert.rejects(
        store.check([{
          key: "big",
          algorithm: "sliding_log",
          limit: 100_000,
          windowMs: 1000,
          cost: 10_001,
        }]),
        RangeError,
      );
      assert.deepEqual(await allKeys(client), []);
      const ok = await store.check([{
        key: "big",
        algorithm: "sliding_log",
        limit: 100_000,
        windowMs: 1000,
        cost: 10_000,
      }]);
      assert.equal(ok.allowed, true);
      assert.equal(await client.sendCommand(["ZCARD", "ratelimit:big"]), 10_000);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name:
    "A node started with RATELIMITER_KEY_LAYOUT=reference counts at ratelimit:<key> and sees the chaos demo's drift",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    await using node = await startNode({
      env: { RATELIMITER_REDIS_URL: redis.url, RATELIMITER_KEY_LAYOUT: "reference" },
    });
    for (let i = 0; i < 3; i++) {
      assert.equal((await postJson(`${node.url}/check`, { key: "wired" })).status, 200);
    }
    assert.equal(await redis.cli("ZCARD", "ratelimit:wired"), "3");
    // The chaos demo's flow: a limit set through the API, then 15 entries ZADDed straight in.
    const put = await fetch(`${node.url}/api/limits/counter-drift-demo`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ limit: 10, window_ms: 60_000 }),
    });
    assert.equal(put.status, 200);
    await put.body?.cancel();
    const now = Date.now();
    const drift: string[] = [];
    for (let i = 0; i < 15; i++) drift.push(String(now + i * 3000), `${now + i * 3000}:drift-${i}`);
    await redis.cli("ZADD", "ratelimit:counter-drift-demo", ...drift);
    await redis.cli("EXPIRE", "ratelimit:counter-drift-demo", "120");
    const listed = await (await fetch(`${node.url}/api/counters`)).json();
    const counter = (listed.counters as Record<string, unknown>[]).find((c) =>
      c.key === "counter-drift-demo"
    );
    assert.deepEqual(
      [counter?.count, counter?.limit, counter?.remaining, counter?.blocked],
      [15, 10, 0, true],
    );
    const denied = await postJson(`${node.url}/check`, { key: "counter-drift-demo" });
    assert.equal(denied.status, 429);
  },
});

Deno.test({
  name: "Reference layout: countCounters counts reference counters, not their :seq or limit keys",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const { app, client, store } = await referenceApp(redis);
    try {
      await check(app, { key: "a" });
      await check(app, { key: "b" });
      await check(app, { key: "b", algorithm: "gcra" });
      await injectDrift(client, "demo", 2);
      await client.sendCommand(["HSET", "ratelimit:limit:a", "limit", "10", "window_ms", "1"]);
      // a and b (reference), b under gcra (default layout) and the demo's key.
      assert.equal(await store.countCounters(), 4);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "Reference layout: RedisStore passes the shared cases of every algorithm",
  ...opts,
  async fn(t) {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      await runStoreCases(t, ALL_CASES, async (clock) => {
        // The reference keys carry no prefix: each case starts from an empty Redis.
        await client.sendCommand(["FLUSHDB"]);
        const store = new RedisStore({ client, prefix: "test", clock, keyLayout: "reference" });
        await store.init();
        return store;
      });
    } finally {
      await client.close();
    }
  },
});
