import assert from "node:assert/strict";
import { RedisActiveCounters } from "../../src/cluster/redis_active_counters.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

Deno.test({
  name: "RedisActiveCounters: one node scans in bounded steps and every node reads its total",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client, prefix: "rl" });
      await store.checkMany(
        Array.from({ length: 2500 }, (_, i) => [
          { key: `k${i}`, algorithm: "sliding_log" as const, limit: 5, windowMs: 60_000, cost: 1 },
        ]),
      );
      // Internal keys must not be counted.
      await redis.cli("SET", "rl:overrides:version", "1");
      const gauges = { a: -1, b: -1 };
      const make = (name: "a" | "b") =>
        new RedisActiveCounters({
          client,
          prefix: "rl",
          instance: name,
          set: (n) => gauges[name] = n,
          scanCount: 100,
          scansPerTick: 5,
        });
      const a = make("a");
      const b = make("b");
      await a.tick();
      assert.equal(await redis.cli("GET", "rl:active_counters:lock"), "a");
      assert.equal(gauges.a, -1, "a pass over 2,500 keys takes more than one tick of 500");
      await b.tick();
      assert.equal(gauges.b, -1, "b does not scan while a holds the lock");
      let ticks = 1;
      while (gauges.a === -1 && ticks < 100) {
        await a.tick();
        ticks++;
      }
      assert.equal(gauges.a, 2500);
      assert.ok(ticks >= 3, `finished in ${ticks} ticks`);
      await b.tick();
      assert.equal(gauges.b, 2500);
      const published = JSON.parse(await redis.cli("GET", "rl:active_counters"));
      assert.equal(published.count, 2500);
      // When the holder's lock is gone (it died), another node takes over and counts.
      await redis.cli("DEL", "rl:active_counters:lock");
      await store.reset("k0");
      for (let i = 0; i < 100; i++) await b.tick();
      assert.equal(await redis.cli("GET", "rl:active_counters:lock"), "b");
      assert.equal(gauges.b, 2499);
    } finally {
      await client.close();
    }
  },
});
