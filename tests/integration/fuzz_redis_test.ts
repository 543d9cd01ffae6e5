/**
 * Fuzz against the Redis-backed store (through the ResilientStore, as `main.ts` wires it): random
 * check bodies, odd keys included, reach the Lua scripts and the key encoding. Never a 5xx.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createMetrics } from "../../src/metrics.ts";
import { createRedisClient } from "../../src/redis.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { ResilientStore } from "../../src/store/resilient_store.ts";
import { makeTestApp } from "../_helpers/app.ts";
import { randomBody, randomCheckBody, randomString, Rng } from "../_helpers/fuzz.ts";
import { startRedis } from "../_helpers/redis_server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 0x5eed_2026);

Deno.test({
  name: `fuzz: 1500 random checks on the Redis store never get a 5xx (seed ${SEED})`,
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const metrics = createMetrics({ nodeId: "fuzz", defaultMetrics: false });
    // A generous deadline: this test is about answers, not about a slow shared machine.
    const store = new ResilientStore({
      inner: new RedisStore({ client }),
      timeoutMs: 5000,
      failureMode: "closed",
      metrics,
    });
    const { app } = makeTestApp({ store, metrics });
    const rng = new Rng(SEED);
    const statuses = new Map<number, number>();
    try {
      const started = Date.now();
      let n = 0;
      for (; n < 1500 && Date.now() - started < 30_000; n++) {
        let body: string | Uint8Array<ArrayBuffer>;
        if (rng.chance(0.5)) {
          // Valid limits with odd but valid keys: braces, percent signs, emoji, long ones.
          const check = randomCheckBody(rng);
          check.key = randomString(rng).toWellFormed().replaceAll("\0", "") || "k";
          check.limit = 1 + rng.int(5);
          body = JSON.stringify(check);
        } else {
          body = randomBody(rng);
        }
        const res = await app.request("/check", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const text = await res.text();
        assert.ok(res.status < 500, `seed ${SEED} case ${n}: ${res.status} ${text}`);
      }
      assert.ok(n >= 300, `only ${n} cases ran (seed ${SEED})`);
      assert.ok((statuses.get(200) ?? 0) > 100, JSON.stringify([...statuses]));
      assert.ok((statuses.get(429) ?? 0) > 10, JSON.stringify([...statuses]));
      assert.equal(store.circuitState, "closed");
      assert.equal((await app.request("/ready")).status, 200);
    } finally {
      await store.close();
      await client.close();
    }
  },
});
