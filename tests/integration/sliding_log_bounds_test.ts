/**
 * Issue 9, items 1, 2, 3 and 8 on a real Redis and the embedded store: the work and memory one
 * sliding-log check can cause are bounded by design (an entry per request, whatever its cost), a
 * peek never writes, and scripts that write are refused as a whole when Redis is out of memory.
 */
import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../src/errors.ts";
import { ALGORITHMS, type LimitRequest } from "../../src/limiter/types.ts";
import { createRedisClient, type RedisClient } from "../../src/redis/client.ts";
import { counterKey } from "../../src/store/keys.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import type { Store } from "../../src/store/types.ts";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";
import { startRedis, type TestRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

const MONTH_MS = 30 * 86_400_000;
const HOUR_MS = 3_600_000;

/** The attack of issue 9 item 1: the largest limit and cost the schema allows. */
const attack = (key: string, windowMs: number): LimitRequest => ({
  key,
  algorithm: "sliding_log",
  limit: 1_000_000,
  cost: 1_000_000,
  windowMs,
});

async function withRedis(
  fn: (redis: TestRedis, client: RedisClient, store: RedisStore) => Promise<void>,
): Promise<void> {
  await using redis = await startRedis();
  const client = await createRedisClient(redis.url);
  try {
    const store = new RedisStore({ client, prefix: "rl" });
    await store.init();
    await fn(redis, client, store);
  } finally {
    await client.close();
  }
}

const slKey = (key: string) => counterKey("rl", "sliding_log", key);

async function usedMemory(client: RedisClient): Promise<number> {
  const text = await client.sendCommand<string>(["INFO", "memory"]);
  return Number(/^used_memory:(\d+)/m.exec(text)![1]);
}

Deno.test({
  name: "RedisStore stores one sliding-log entry per request, whatever its cost (single, " +
    "4- and 8-limit multi-checks, a batch of 1,000)",
  ...opts,
  async fn() {
    await withRedis(async (_redis, client, store) => {
      const zcard = (key: string) => client.sendCommand<number>(["ZCARD", slKey(key)]);
      const usage = (key: string) =>
        client.sendCommand<number>(["MEMORY", "USAGE", slKey(key), "SAMPLES", "0"]);

      // Single: one entry plus the metadata member, a key of a few hundred bytes.
      for (const [key, windowMs] of [["junk", 60_000], ["junk-month", MONTH_MS]] as const) {
        const outcome = await store.check([attack(key, windowMs)]);
        assert.deepEqual(outcome.allowed, true);
        assert.deepEqual(outcome.decisions[0]!.count, 1_000_000);
        assert.deepEqual(await zcard(key), 2);
        assert.deepEqual(await usage(key) < 512, true, `MEMORY USAGE ${await usage(key)}`);
        // The next one is denied until the whole window has passed, and writes nothing.
        const denied = await store.check([{ ...attack(key, windowMs), cost: 1 }]);
        const retry = denied.decisions[0]!.retryAfterMs;
        assert.deepEqual(retry > windowMs - 10_000 && retry <= windowMs, true, `retry ${retry}`);
        assert.deepEqual(await zcard(key), 2);
      }
      // The 1 ms window of the issue: the key expires almost at once and holds one entry.
      await store.check([attack("junk-1ms", 1)]);
      assert.deepEqual((await zcard("junk-1ms")) <= 2, true);

      // Multi-checks of 4 and 8 limits sharing a hash tag: one entry per limit.
      for (const n of [4, 8]) {
        const limits = Array.from({ length: n }, (_, i) => attack(`{m${n}}:${i}`, MONTH_MS));
        assert.deepEqual((await store.check(limits)).allowed, true);
        for (const l of limits) assert.deepEqual(await zcard(l.key), 2);
      }

      // A batch of 1,000 such checks: 1,000 entries in all, a bounded amount of memory.
      const before = await usedMemory(client);
      const groups = Array.from({ length: 1000 }, (_, i) => [attack(`b${i}`, MONTH_MS)]);
      const outcomes = await store.checkMany(groups);
      assert.deepEqual(outcomes.every((o) => o.allowed), true);
      const growth = await usedMemory(client) - before;
      assert.deepEqual(growth < 1000 * 1024, true, `used_memory grew by ${growth} B`);
      let entries = 0;
      for (let i = 0; i < 1000; i += 97) entries += await zcard(`b${i}`);
      assert.deepEqual(entries, 2 * Math.ceil(1000 / 97));
    });
  },
});

Deno.test({
  name: "RedisStore counts exactly across the wrap of the cumulative unit count",
  ...opts,
  async fn() {
    await withRedis(async (_redis, client) => {
      let now = 1_750_000_000_000;
      const store = new RedisStore({ client, prefix: "rl", clock: () => now });
      const key = slKey("wrap");
      // A key that has committed almost 10^15 units over its life (written as the script would).
      const t = String(now * 1000);
      await client.sendCommand(["ZADD", key, t, "999999999999990:5", "+inf", "~100:1000"]);
      const r: LimitRequest = {
        key: "wrap",
        algorithm: "sliding_log",
        limit: 100,
        windowMs: 1000,
        cost: 20,
      };
      assert.deepEqual((await store.check([r])).decisions[0]!.count, 25);
      const members = await client.sendCommand<string[]>(["ZRANGE", key, "0", "-1"]);
      assert.deepEqual(members, ["999999999999990:5", "000000000000010:20", "~100:1000"]);
      now += 500;
      const denied = await store.check([{ ...r, cost: 80 }]);
      assert.deepEqual(denied.decisions[0], {
        allowed: false,
        count: 25,
        remaining: 75,
        retryAfterMs: 500,
        resetAfterMs: 500,
      });
    });
  },
});

Deno.test({
  name: "RedisStore reads a sliding-log key of the one-member-per-unit format as empty and " +
    "replaces it",
  ...opts,
  async fn() {
    await withRedis(async (_redis, client) => {
      const now = 1_750_000_000_000;
      const store = new RedisStore({ client, prefix: "rl", clock: () => now });
      const key = slKey("legacy");
      const t = String(now * 1000 - 1000);
      await client.sendCommand(["ZADD", key, t, `${t}:1`, t, `${t}:2`, "+inf", "~5:60000"]);
      const r: LimitRequest = {
        key: "legacy",
        algorithm: "sliding_log",
        limit: 5,
        windowMs: 60_000,
        cost: 1,
      };
      assert.deepEqual((await store.check([{ ...r, cost: 0 }])).decisions[0]!.count, 0);
      assert.deepEqual((await store.check([r])).decisions[0]!.count, 1);
      const members = await client.sendCommand<string[]>(["ZRANGE", key, "0", "-1"]);
      assert.deepEqual(members, ["000000000000001:1", "~5:60000"]);
    });
  },
});

/** Blocks a key at 3 per hour, peeks at it with a 1 ms window, and checks it again. */
async function peekThenCheck(store: Store): Promise<number[]> {
  const { app } = makeTestApp({ store });
  const body = { key: "victim", limit: 3, window_ms: HOUR_MS, algorithm: "sliding_log" };
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    statuses.push((await app.request("/check", jsonRequest(body))).status);
  }
  const peek = await app.request("/check/victim?limit=3&window_ms=1&algorithm=sliding_log");
  statuses.push(peek.status);
  statuses.push((await app.request("/check", jsonRequest(body))).status);
  return statuses;
}

Deno.test({
  name: "GET /check/{key} with window_ms=1 does not unblock a sliding-log key (Redis)",
  ...opts,
  async fn() {
    await withRedis(async (_redis, client, store) => {
      await client.sendCommand(["DEL", slKey("victim")]);
      assert.deepEqual(await peekThenCheck(store), [200, 200, 200, 429, 200, 429]);
      assert.deepEqual(await client.sendCommand<number>(["ZCARD", slKey("victim")]), 4);
    });
  },
});

Deno.test("GET /check/{key} with window_ms=1 does not unblock a sliding-log key (embedded)", async () => {
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  assert.deepEqual(await peekThenCheck(store), [200, 200, 200, 429, 200, 429]);
  await store.close();
});

Deno.test({
  name: "RedisStore peeks (cost 0, any window or limit) leave every algorithm's key unchanged",
  ...opts,
  async fn() {
    await withRedis(async (_redis, client, store) => {
      for (const algorithm of ALGORITHMS) {
        const r: LimitRequest = {
          key: `p-${algorithm}`,
          algorithm,
          limit: 5,
          windowMs: HOUR_MS,
          cost: 2,
        };
        await store.check([r]);
        await store.check([r]);
        const key = counterKey("rl", algorithm, r.key);
        const dump = await client.sendCommand<string>(["DUMP", key]);
        for (const windowMs of [1, 1000, MONTH_MS]) {
          for (const limit of [1, 5, 1_000_000]) {
            await store.check([{ ...r, windowMs, limit, cost: 0 }]);
          }
        }
        await store.listCounters({ limit: 100 });
        assert.deepEqual(await client.sendCommand<string>(["DUMP", key]), dump, algorithm);
        assert.deepEqual((await store.check([{ ...r, cost: 0 }])).decisions[0]!.count, 4);
      }
    });
  },
});

Deno.test({
  name: "RedisStore under maxmemory + noeviction: a sliding-log check is refused whole and " +
    "writes nothing; reads still answer; scripts reload after SCRIPT FLUSH",
  ...opts,
  async fn() {
    await withRedis(async (redis, client, store) => {
      // A store on Redis TIME (no clock), as in production: the shebang scripts may read it.
      const live = new RedisStore({ client, prefix: "rl" });
      const small: LimitRequest = {
        key: "oom",
        algorithm: "sliding_log",
        limit: 10,
        windowMs: HOUR_MS,
        cost: 1,
      };
      assert.deepEqual((await live.check([small])).allowed, true);
      // Fill Redis past a small maxmemory.
      assert.deepEqual(await redis.cli("DEBUG", "POPULATE", "20000", "fill", "100"), "OK");
      await client.sendCommand(["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
      await client.sendCommand(["CONFIG", "SET", "maxmemory", "1mb"]);
      const before = await usedMemory(client);
      for (const request of [small, attack("oom", MONTH_MS), attack("oom-new", MONTH_MS)]) {
        await assert.rejects(() => live.check([request]), (error: unknown) => {
          assert.ok(error instanceof StoreUnavailableError);
          assert.match(error.message, /OOM/);
          return true;
        });
      }
      for (const algorithm of ALGORITHMS.filter((a) => a !== "sliding_log")) {
        await assert.rejects(() => live.check([{ ...small, algorithm }]), StoreUnavailableError);
      }
      assert.deepEqual(await client.sendCommand<number>(["ZCARD", slKey("oom")]), 2);
      assert.deepEqual(await client.sendCommand<number>(["EXISTS", slKey("oom-new")]), 0);
      const growth = await usedMemory(client) - before;
      // Error replies and client buffers take a little; the attack alone wrote over 100 MB.
      assert.deepEqual(growth < 1024 * 1024, true, `used_memory grew by ${growth} B`);
      // Reads are declared read-only: they answer out of memory, even after SCRIPT FLUSH.
      assert.deepEqual(await redis.cli("SCRIPT", "FLUSH"), "OK");
      const peek = await live.check([{ ...small, cost: 0 }]);
      assert.deepEqual(peek.decisions[0]!.count, 1);
      const counts: number[] = [];
      let cursor: string | undefined = undefined;
      do {
        const page = await store.listCounters({ limit: 1000, prefix: "oom", cursor });
        counts.push(...page.counters.map((c) => c.decision.count));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      assert.deepEqual(counts, [1]);
      // Memory back: the check script reloads and writes again.
      await client.sendCommand(["CONFIG", "SET", "maxmemory", "0"]);
      assert.deepEqual((await live.check([small])).decisions[0]!.count, 2);
    });
  },
});

Deno.test("MemoryStore keeps one sliding-log entry per request under the attack of item 1", async () => {
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  const before = Deno.memoryUsage().heapUsed;
  assert.deepEqual((await store.check([attack("junk", 1)])).allowed, true);
  assert.deepEqual((await store.check([attack("junk-month", MONTH_MS)])).allowed, true);
  for (const n of [4, 8]) {
    const limits = Array.from({ length: n }, (_, i) => attack(`{m${n}}:${i}`, MONTH_MS));
    assert.deepEqual((await store.check(limits)).allowed, true);
  }
  const groups = Array.from({ length: 1000 }, (_, i) => [attack(`b${i}`, MONTH_MS)]);
  assert.deepEqual((await store.checkMany(groups)).every((o) => o.allowed), true);
  // One unit per element would be 8 MB per request (over 8 GB here); an entry is a few bytes.
  const growth = Deno.memoryUsage().heapUsed - before;
  assert.deepEqual(growth < 32 * 1024 * 1024, true, `heap grew by ${growth} B`);
  const page = await store.listCounters({ limit: 5, prefix: "junk-month" });
  assert.deepEqual(page.counters[0]!.decision.count, 1_000_000);
  await store.close();
});
