/**
 * Slow management reads on a healthy Redis never blind the node (issue 9, item 7): the breaker
 * counts only the store's failures, not time queued inside this process, and management reads do
 * bounded work per request.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { RedisOverrideStore } from "../../src/cluster/redis_override_store.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { BreakerStore } from "../../src/store/breaker_store.ts";
import { FailureModeStore } from "../../src/store/failure_mode_store.ts";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";
import { startRedis, type TestRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

const OVERRIDES = 10_000;

/** Stores `OVERRIDES` overrides straight into Redis, as an operator's PUTs would. */
async function seedOverrides(client: Awaited<ReturnType<typeof createRedisClient>>) {
  const value = JSON.stringify({ limit: 100, window_ms: 60_000, updated_at: 1 });
  for (let i = 0; i < OVERRIDES; i += 1000) {
    const args = ["HSET", "rl:overrides"];
    for (let j = i; j < i + 1000; j++) args.push(`customer-${j}-${"x".repeat(40)}`, value);
    await client.sendCommand(args);
  }
  await client.sendCommand(["SET", "rl:overrides:version", "1"]);
}

/** Calls of `command` Redis has run so far, scripts' calls included. */
async function commandCalls(redis: TestRedis, command: string): Promise<number> {
  const info = await redis.cli("INFO", "commandstats");
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return match === null ? 0 : Number(match[1]);
}

Deno.test({
  name: "GET /api/limits/{key} reads one override, not the whole hash",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    await seedOverrides(client);
    const overrideStore = new RedisOverrideStore({ client, pollIntervalMs: 0 });
    await overrideStore.start();
    const { app } = makeTestApp({ overrideStore });
    try {
      const before = await commandCalls(redis, "hgetall");
      for (let i = 0; i < 5; i++) {
        const res = await app.request("/api/limits/nope");
        assert.equal(res.status, 404);
        await res.body?.cancel();
      }
      const found = await app.request(`/api/limits/customer-7-${"x".repeat(40)}`);
      assert.equal(found.status, 200);
      assert.equal((await found.json()).limit, 100);
      assert.equal(await commandCalls(redis, "hgetall"), before);
    } finally {
      await overrideStore.close();
      await client.close();
    }
  },
});

Deno.test({
  name:
    "A burst of slow management reads on a healthy Redis opens no breaker: a limit-5 key gets 5",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    await seedOverrides(client);
    const metrics = createMetrics({ nodeId: "n", defaultMetrics: false });
    const transitions: string[] = [];
    const breaker = new BreakerStore({
      inner: new RedisStore({ client }),
      timeoutMs: 100,
      failureThreshold: 3,
      metrics,
    });
    const store = new FailureModeStore({
      inner: breaker,
      failureMode: "open",
      metrics,
    });
    const overrideStore = new RedisOverrideStore({ client, pollIntervalMs: 0 });
    await overrideStore.start();
    const { app } = makeTestApp({ store, overrideStore, metrics });
    try {
      // 2,000 live counters, so a counters page of 1,000 has a full page to read.
      for (let i = 0; i < 2; i++) {
        const checks = Array.from({ length: 1000 }, (_, j) => ({ key: `c${i}-${j}` }));
        const res = await app.request("/check/batch", jsonRequest({ checks }));
        assert.equal(res.status, 200);
        await res.body?.cancel();
      }
      const reads: Promise<number>[] = [];
      const read = async (path: string) => {
        const res = await app.request(path);
        await res.body?.cancel();
        return res.status;
      };
      const victim = { key: "victim", algorithm: "sliding_log", limit: 5, window_ms: 3_600_000 };
      let allowed = 0;
      let degraded = 0;
      for (let wave = 0; wave < 20; wave++) {
        // Slow reads queue up inside the node, with checks in flight behind them.
        for (let i = 0; i < 6; i++) reads.push(read("/api/limits/nope"));
        reads.push(read("/api/limits"));
        reads.push(read("/api/counters?limit=1000"));
        const checks = await Promise.all(
          Array.from({ length: 10 }, () => app.request("/check", jsonRequest(victim))),
        );
        for (const res of checks) {
          if (res.status === 200) allowed++;
          if (res.headers.get("X-RateLimit-Degraded") !== null) degraded++;
          await res.body?.cancel();
        }
        if (breaker.circuitState !== "closed") transitions.push(breaker.circuitState);
      }
      const statuses = await Promise.all(reads);
      assert.deepEqual([...new Set(statuses)].sort(), [200, 404]);
      assert.deepEqual(transitions, []);
      assert.equal(breaker.circuitState, "closed");
      assert.equal(degraded, 0);
      assert.equal(allowed, 5);
      const rendered = await metrics.render();
      assert.doesNotMatch(rendered, /^ratelimiter_degraded_decisions_total\{[^}]*\} [1-9]/m);
      assert.doesNotMatch(rendered, /^ratelimiter_store_errors_total\{[^}]*\} [1-9]/m);
    } finally {
      await store.close();
      await overrideStore.close();
      await client.close();
    }
  },
});
