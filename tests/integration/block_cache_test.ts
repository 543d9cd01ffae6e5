import assert from "node:assert/strict";
import { MemoryEvents } from "../../src/cluster/memory_events.ts";
import type { LimitRequest } from "../../src/limiter/types.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { BlockCacheStore } from "../../src/store/block_cache_store.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { startRedis, type TestRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

const req = (key: string, limit: number, windowMs: number): LimitRequest => ({
  key,
  algorithm: "sliding_log",
  limit,
  windowMs,
  cost: 1,
});

async function evalshaCalls(redis: TestRedis): Promise<number> {
  const info = await redis.cli("INFO", "commandstats");
  const match = /cmdstat_evalsha:calls=(\d+)/.exec(info);
  return match === null ? 0 : Number(match[1]);
}

Deno.test({
  name: "BlockCacheStore on Redis answers a hot blocked key without running a script",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const events = new MemoryEvents();
    const nodeA = new BlockCacheStore({ inner: new RedisStore({ client }), events });
    const nodeB = new BlockCacheStore({ inner: new RedisStore({ client }), events });
    try {
      const hot = req("hot", 3, 60_000);
      const results = [];
      for (let i = 0; i < 4; i++) results.push((await nodeA.check([hot])).allowed);
      assert.deepEqual(results, [true, true, true, false]);
      assert.equal((await nodeB.check([hot])).allowed, false);

      const before = await evalshaCalls(redis);
      for (let i = 0; i < 100; i++) {
        const outcome = await nodeA.check([hot]);
        assert.equal(outcome.allowed, false);
        assert.equal(outcome.decisions[0]!.count, 3);
        assert.ok(outcome.decisions[0]!.retryAfterMs > 50_000);
      }
      assert.equal(await evalshaCalls(redis), before, "no script ran for the blocked key");
      assert.equal(nodeA.hits, 100);

      // A reset on node A reaches node B through the events: both forget the block.
      assert.equal(await nodeA.reset("hot"), true);
      await events.publish({ type: "counter_reset", key: "hot" });
      assert.equal((await nodeB.check([hot])).allowed, true);
      assert.equal((await nodeA.check([hot])).allowed, true);
    } finally {
      await nodeA.close();
      await nodeB.close();
      await client.close();
    }
  },
});

Deno.test({
  name: "BlockCacheStore on Redis lets a key through again once its window has passed",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const store = new BlockCacheStore({
      inner: new RedisStore({ client }),
      events: new MemoryEvents(),
    });
    try {
      const key = req("short", 2, 400);
      assert.equal((await store.check([key])).allowed, true);
      assert.equal((await store.check([key])).allowed, true);
      assert.equal((await store.check([key])).allowed, false);
      assert.equal((await store.check([key])).allowed, false);
      assert.ok(store.hits >= 1);
      // Both entries leave the window 400 ms after they were counted; the cache must not hold on.
      await new Promise((r) => setTimeout(r, 450));
      assert.equal((await store.check([key])).allowed, true);
    } finally {
      await store.close();
      await client.close();
    }
  },
});

Deno.test({
  name:
    "BlockCacheStore on Redis leaves a gcra burst it has not seen denied to Redis (issue 9 item 10)",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const store = new BlockCacheStore({
      inner: new RedisStore({ client }),
      events: new MemoryEvents(),
    });
    try {
      const narrow: LimitRequest = { ...req("g", 10, 60_000), algorithm: "gcra", burst: 1 };
      assert.equal((await store.check([narrow])).allowed, true);
      assert.equal((await store.check([narrow])).allowed, false);
      assert.equal((await store.check([narrow])).allowed, false);
      assert.equal(store.hits, 1, "the burst-1 denial is answered from memory");
      const before = await evalshaCalls(redis);
      // One cell in use of 10: Redis allows it, so the cache must not answer it.
      const wide = await store.check([{ ...narrow, burst: 10 }]);
      assert.equal(wide.allowed, true);
      assert.equal(await evalshaCalls(redis), before + 1, "decided by Redis");
    } finally {
      await store.close();
      await client.close();
    }
  },
});
