import assert from "node:assert/strict";
import type { LimitRequest } from "../../src/limiter/types.ts";
import { createRedisClient, type RedisClient } from "../../src/redis/client.ts";
import { counterKey } from "../../src/store/keys.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { createManualClock } from "../_helpers/manual_clock.ts";
import { integration as opts } from "../_helpers/options.ts";
import { startRedis } from "../_helpers/redis_server.ts";

const sl = (key: string, limit = 1000, windowMs = 60_000): LimitRequest => ({
  key,
  algorithm: "sliding_log",
  limit,
  windowMs,
  cost: 1,
});

/** Commands run inside scripts since the last `CONFIG RESETSTAT`, by name (EVALSHA left out). */
async function commands(client: RedisClient): Promise<Record<string, number>> {
  const stats = await client.sendCommand<string>(["INFO", "commandstats"]);
  const counts: Record<string, number> = {};
  for (const m of stats.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
    if (!["evalsha", "config|resetstat", "info"].includes(m[1]!)) counts[m[1]!] = Number(m[2]);
  }
  return counts;
}

Deno.test({
  name:
    "Check script: an allowed sliding-log check on a live key runs TIME, two ZRANGEs, ZADD and PEXPIRE only",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client, coalesce: false });
      await store.init();
      await store.check([sl("k")]);
      await client.sendCommand(["CONFIG", "RESETSTAT"]);
      for (let i = 0; i < 10; i++) await store.check([sl("k")]);
      assert.deepEqual(await commands(client), {
        time: 10,
        zrange: 20,
        zadd: 10,
        pexpire: 10,
      });
      // A new key: one ZRANGE finds nothing; one ZADD adds the entry and the metadata member.
      await client.sendCommand(["CONFIG", "RESETSTAT"]);
      await store.check([sl("new")]);
      assert.deepEqual(await commands(client), { time: 1, zrange: 1, zadd: 1, pexpire: 1 });
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name:
    "Check script: expired sliding-log entries are pruned 128 at a time, and the running total restarts only once all are gone",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const clock = createManualClock();
      const store = new RedisStore({ client, prefix: "rl", clock, coalesce: false });
      await store.init();
      const key = counterKey("rl", "sliding_log", "k");
      const members = () => client.sendCommand<string[]>(["ZRANGE", key, "0", "-1"]);
      for (let i = 0; i < 130; i++) await store.check([sl("k", 1000, 1000)]);
      clock.advance(1000);
      // 130 expired: 128 go, the total carries on from the newest entry.
      const first = await store.check([sl("k", 1000, 1000)]);
      assert.equal(first.decisions[0]!.count, 1);
      assert.deepEqual(await members(), [
        "000000000000129:1",
        "000000000000130:1",
        "000000000000131:1",
        "~1000:1000",
      ]);
      clock.advance(1000);
      // All 3 expired: all go, and the total restarts.
      const second = await store.check([sl("k", 1000, 1000)]);
      assert.equal(second.decisions[0]!.count, 1);
      assert.deepEqual(await members(), ["000000000000001:1", "~1000:1000"]);
      // A peek of the same key sees one unit and changes nothing.
      const peek = await store.check([{ ...sl("k", 1000, 1000), cost: 0 }]);
      assert.equal(peek.decisions[0]!.count, 1);
      assert.deepEqual(await members(), ["000000000000001:1", "~1000:1000"]);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "Check script: a new limit or window replaces the sliding log's one metadata member",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client, prefix: "rl" });
      await store.init();
      const key = counterKey("rl", "sliding_log", "k");
      const meta = () => client.sendCommand<string[]>(["ZRANGEBYSCORE", key, "+inf", "+inf"]);
      await store.check([sl("k", 10, 60_000)]);
      assert.deepEqual(await meta(), ["~10:60000"]);
      await client.sendCommand(["CONFIG", "RESETSTAT"]);
      await store.check([sl("k", 10, 60_000)]);
      assert.equal((await commands(client)).zremrangebyscore, undefined);
      await store.check([sl("k", 20, 60_000)]);
      assert.deepEqual(await meta(), ["~20:60000"]);
      await store.check([sl("k", 20, 30_000)]);
      assert.deepEqual(await meta(), ["~20:30000"]);
      const counted = await store.check([sl("k", 20, 30_000)]);
      assert.equal(counted.decisions[0]!.count, 5);
    } finally {
      await client.close();
    }
  },
});
