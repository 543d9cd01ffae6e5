/**
 * `POST /check/batch` over the BreakerStore and FailureModeStore and a real Redis: a large valid batch is decided by
 * Redis, never by the failure mode merely because it is large (issue 9, item 4).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { LimitRequest } from "../../src/limiter/types.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { BreakerStore } from "../../src/store/breaker_store.ts";
import { BATCH_CHUNK_LIMITS, FailureModeStore } from "../../src/store/failure_mode_store.ts";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

Deno.test({
  name: "POST /check/batch decides two 1,000-item batches in Redis: 1 allowed of a 1/hour key",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const inner = new RedisStore({ client });
    await inner.init();
    // Records how many limits each store call carries, to show a batch's calls stay check-sized.
    const sizes: number[] = [];
    const checkMany = inner.checkMany.bind(inner);
    inner.checkMany = (groups: LimitRequest[][]) => {
      sizes.push(groups.reduce((n, g) => n + g.length, 0));
      return checkMany(groups);
    };
    const breaker = new BreakerStore({
      inner,
      timeoutMs: 100,
      failureThreshold: 3,
    });
    const store = new FailureModeStore({
      inner: breaker,
      failureMode: "open",
    });
    const { app, metrics } = makeTestApp({ store });
    try {
      const check = { key: "victim", algorithm: "sliding_log", limit: 1, window_ms: 3_600_000 };
      const batch = { checks: Array.from({ length: 1000 }, () => check) };
      let allowed = 0;
      let degraded = 0;
      for (let round = 0; round < 2; round++) {
        const res = await app.request("/check/batch", jsonRequest(batch));
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("X-RateLimit-Degraded"), null);
        const { results } = await res.json() as {
          results: { allowed: boolean; degraded?: true }[];
        };
        assert.equal(results.length, 1000);
        allowed += results.filter((r) => r.allowed).length;
        degraded += results.filter((r) => r.degraded).length;
      }
      assert.equal(degraded, 0);
      assert.equal(allowed, 1);
      assert.equal(breaker.circuitState, "closed");
      assert.equal(await metricSum(metrics.registry, "ratelimiter_store_errors_total"), 0);
      // Every store call of the batches carried at most a chunk, and all 2,000 checks were sent.
      assert.ok(sizes.every((n) => n <= BATCH_CHUNK_LIMITS), `call sizes ${sizes.join(",")}`);
      assert.equal(sizes.reduce((a, b) => a + b, 0), 2000);
      // The node's next plain check is exact: still blocked, not degraded.
      const res = await app.request("/check", jsonRequest(check));
      assert.equal(res.status, 429);
      assert.equal(res.headers.get("X-RateLimit-Degraded"), null);
      await res.body?.cancel();
    } finally {
      await store.close();
      await client.close();
    }
  },
});

async function metricSum(
  registry: { getSingleMetric(name: string): { get(): unknown } | undefined },
  name: string,
): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get() as
    | { values: { value: number }[] }
    | undefined;
  return metric?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
}
