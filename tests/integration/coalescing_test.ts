import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../src/errors.ts";
import { ALGORITHMS, type LimitRequest } from "../../src/limiter/types.ts";
import { createRedisClient, type RedisClient } from "../../src/redis/client.ts";
import { BreakerStore } from "../../src/store/breaker_store.ts";
import { counterKey } from "../../src/store/keys.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { equivalenceGroups } from "../_helpers/checks.ts";
import { createManualClock } from "../_helpers/manual_clock.ts";
import { integration as opts } from "../_helpers/options.ts";
import { startRedis } from "../_helpers/redis_server.ts";

const req = (
  key: string,
  algorithm: LimitRequest["algorithm"] = "sliding_log",
  limit = 10,
  cost = 1,
): LimitRequest => ({ key, algorithm, limit, windowMs: 60_000, cost });

/** Script runs (EVALSHA and EVAL) Redis has counted since its last `CONFIG RESETSTAT`. */
async function scriptCalls(client: RedisClient): Promise<number> {
  const stats = await client.sendCommand<string>(["INFO", "commandstats"]);
  return [...stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)]
    .reduce((sum, m) => sum + Number(m[1]), 0);
}

Deno.test({
  name:
    "RedisStore coalescing: 400 simultaneous checks on 4 keys allow exactly the first L of each key, in 4 script runs instead of 400",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      for (const coalesce of [true, false]) {
        for (const algorithm of ALGORITHMS) {
          const store = new RedisStore({ client, prefix: `c${coalesce}`, coalesce });
          await store.init();
          await client.sendCommand(["CONFIG", "RESETSTAT"]);
          const keys = [0, 1, 2, 3].map((k) => `{${algorithm}}:${k}`);
          const outcomes = await Promise.all(
            Array.from({ length: 400 }, (_, i) => store.check([req(keys[i % 4]!, algorithm, 25)])),
          );
          const calls = await scriptCalls(client);
          for (const [k, key] of keys.entries()) {
            const mine = outcomes.filter((_, i) => i % 4 === k).map((o) => o.allowed);
            // Arrival order is decision order: the first 25 checks of the key, and only they.
            assert.deepEqual(mine, mine.map((_, n) => n < 25), `${algorithm} ${key}`);
          }
          if (coalesce) {
            assert.equal(calls, 4, `${algorithm}: 400 limits in calls of at most 100`);
            assert.deepEqual(store.coalesced, { calls: 4, checks: 400 });
          } else {
            assert.equal(calls, 400, algorithm);
            assert.equal(store.coalesced, undefined);
          }
        }
      }
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name:
    "RedisStore answers a mixed table of checks (peeks, multi-limit, every algorithm) the same with coalescing on, off, and one by one",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const clock = createManualClock();
      const run = async (prefix: string, mode: "on" | "off" | "sequential") => {
        const store = new RedisStore({ client, prefix, clock, coalesce: mode === "on" });
        await store.init();
        const groups = equivalenceGroups(300, "table");
        if (mode !== "sequential") return await Promise.all(groups.map((g) => store.check(g)));
        const outcomes = [];
        for (const group of groups) outcomes.push(await store.check(group));
        return outcomes;
      };
      await client.sendCommand(["CONFIG", "RESETSTAT"]);
      const on = await run("on", "on");
      const onCalls = await scriptCalls(client);
      const off = await run("off", "off");
      const sequential = await run("seq", "sequential");
      assert.deepEqual(on, sequential);
      assert.deepEqual(off, sequential);
      assert.ok(on.some((o) => o.allowed) && on.some((o) => !o.allowed));
      // Peeks run apart from the checks that write (a read-only script), in arrival order.
      assert.ok(onCalls < 300, `coalesced into ${onCalls} script runs`);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name:
    "RedisStore coalescing: an error reply for one check fails that check only; the others of its script run are decided",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client, prefix: "rl" });
      await store.init();
      // A key of the wrong type makes every command of its check fail with WRONGTYPE.
      await client.sendCommand(["SET", counterKey("rl", "sliding_log", "bad"), "x"]);
      await client.sendCommand(["CONFIG", "RESETSTAT"]);
      const settled = await Promise.allSettled([
        store.check([req("good1", "sliding_log", 1)]),
        store.check([req("bad")]),
        store.check([req("good1", "sliding_log", 1)]),
        store.check([req("good2", "gcra")]),
      ]);
      assert.equal(await scriptCalls(client), 1);
      assert.deepEqual(settled.map((s) => s.status), [
        "fulfilled",
        "rejected",
        "fulfilled",
        "fulfilled",
      ]);
      const values = settled.map((s) => s.status === "fulfilled" ? s.value.allowed : undefined);
      assert.deepEqual(values, [true, undefined, false, true]);
      const failure = (settled[1] as PromiseRejectedResult).reason;
      assert.ok(failure instanceof StoreUnavailableError, String(failure));
      assert.equal(failure.kind, "reply");
      assert.match(failure.message, /WRONGTYPE/);
      assert.equal(store.status(), "up");
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name:
    "RedisStore coalescing: under OOM the writing checks of a turn are refused and a peek beside them still answers",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client });
      await store.init();
      await store.check([req("k")]);
      await client.sendCommand(["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
      await client.sendCommand(["CONFIG", "SET", "maxmemory", "1"]);
      const settled = await Promise.allSettled([
        store.check([req("k")]),
        store.check([req("k", "sliding_log", 10, 0)]),
        store.check([req("other")]),
      ]);
      assert.deepEqual(settled.map((s) => s.status), ["rejected", "fulfilled", "rejected"]);
      for (const i of [0, 2]) {
        assert.match((settled[i] as PromiseRejectedResult).reason.message, /OOM/);
      }
      const peek = (settled[1] as PromiseFulfilledResult<{ decisions: { count: number }[] }>)
        .value;
      assert.equal(peek.decisions[0]!.count, 1);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name:
    "RedisStore coalescing keeps the store deadline per call: each check of a frozen Redis times out on its own, later checks are answered",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const inner = new RedisStore({ client });
    const store = new BreakerStore({ inner, timeoutMs: 50, failureThreshold: 1000 });
    try {
      // Loaded scripts: a script loaded on first use would reach Redis after the check below.
      await inner.init();
      await store.check([req("k", "sliding_log", 100)]);
      redis.freeze();
      let settled;
      try {
        settled = await Promise.allSettled([
          store.check([req("k", "sliding_log", 100)]),
          store.check([req("j", "sliding_log", 100)]),
          store.check([req("k", "sliding_log", 100)]),
        ]);
      } finally {
        redis.thaw();
      }
      for (const s of settled) {
        assert.equal(s.status, "rejected");
        const error = (s as PromiseRejectedResult).reason;
        assert.ok(error instanceof StoreUnavailableError, String(error));
        assert.equal(error.kind, "timeout");
      }
      // The thawed Redis ran the late script too: the key counts its three checks and this one.
      const outcome = await store.check([req("k", "sliding_log", 100)]);
      assert.equal(outcome.decisions[0]!.count, 4);
    } finally {
      await store.close();
      await client.close();
    }
  },
});
