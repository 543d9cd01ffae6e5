/**
 * The BreakerStore (inside a FailureModeStore) over a real RedisStore: what only a real connection shows.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { LimitRequest } from "../../src/limiter/types.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { BreakerStore } from "../../src/store/breaker_store.ts";
import { FailureModeStore } from "../../src/store/failure_mode_store.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

function req(key: string): LimitRequest {
  return { key, algorithm: "sliding_log", limit: 1000, windowMs: 60_000, cost: 1 };
}

Deno.test({
  name: "BreakerStore does not blame Redis for a stall of this process past the deadline",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const breaker = new BreakerStore({
      inner: new RedisStore({ client }),
      timeoutMs: 100,
      failureThreshold: 3,
    });
    const store = new FailureModeStore({
      inner: breaker,
      failureMode: "open",
    });
    try {
      let degraded = 0;
      for (let round = 0; round < 5; round++) {
        const pending = Promise.all(
          Array.from({ length: 8 }, (_, i) => store.check([req(`k${i}`)])),
        );
        // Block the event loop well past the deadline while Redis answers.
        const until = performance.now() + 300;
        while (performance.now() < until) { /* stall */ }
        degraded += (await pending).filter((o) => o.degraded !== undefined).length;
      }
      assert.equal(degraded, 0);
      assert.equal(breaker.circuitState, "closed");
      // Every call was counted by Redis, once.
      assert.equal(await redis.cli("ZCOUNT", "rl:sl:{k0}", "-inf", "(+inf"), "5");
    } finally {
      await store.close();
      await client.close();
    }
  },
});

Deno.test({
  name: "BreakerStore reports a frozen Redis within the deadline and recovers when it thaws",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const breaker = new BreakerStore({
      inner: new RedisStore({ client }),
      timeoutMs: 100,
      probeIntervalMs: 100,
    });
    const store = new FailureModeStore({
      inner: breaker,
      failureMode: "closed",
    });
    try {
      await store.check([req("before")]);
      redis.freeze();
      const started = performance.now();
      const errors = await Promise.all(
        [1, 2, 3, 4].map(() => store.check([req("frozen")]).then(() => undefined, (e) => e)),
      );
      const ms = performance.now() - started;
      assert.ok(errors.every((e) => e?.kind === "timeout"), String(errors));
      assert.ok(ms < 100 + 1000, `answered after ${ms} ms`);
      assert.equal(breaker.circuitState, "open");
      await assert.rejects(store.ping());
      redis.thaw();
      const deadline = Date.now() + 10_000;
      while ((breaker.circuitState as string) !== "closed" && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(breaker.circuitState, "closed");
      assert.equal((await store.check([req("after")])).degraded, undefined);
      // The timed-out calls reached Redis once it thawed: counted, never lost.
      assert.equal(await redis.cli("ZCOUNT", "rl:sl:{frozen}", "-inf", "(+inf"), "4");
    } finally {
      redis.thaw();
      await store.close();
      await client.close();
    }
  },
});
