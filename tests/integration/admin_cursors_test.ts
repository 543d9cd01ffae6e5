/**
 * Cursors of `/api/counters` and `/api/blocks` are validated in full by the store that issues
 * them, format and range, before any I/O: a cursor no store page could have returned is a 400
 * `invalid_cursor`, never a 503, and `ratelimiter_store_errors_total` does not move. Run on both
 * stores, each wrapped in the BreakerStore and FailureModeStore as `main.ts` wires them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { BreakerStore } from "../../src/store/breaker_store.ts";
import { FailureModeStore } from "../../src/store/failure_mode_store.ts";
import type { Store } from "../../src/store/types.ts";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

/** Cursors no store issues. */
const BAD_CURSORS = ["abc", "-1", "1-", "1-0-0", "1.5", "0x10", " 1", "99999999999999999999-0"];
/** Per store: cursors of the right shape but out of range. */
const OUT_OF_RANGE: Record<Store["kind"], string[]> = {
  // Past an unsigned 64-bit SCAN cursor: Redis itself would answer "ERR invalid cursor".
  redis: ["18446744073709551616-0", "99999999999999999999-0", "99999999999999999999-999999999"],
  // Past Number.MAX_SAFE_INTEGER.
  memory: ["9007199254740993", "9999999999999999"],
};
/** Per store: the largest cursors in range, which must still be accepted. */
const LARGEST: Record<Store["kind"], string> = {
  redis: "18446744073709551615-0",
  memory: "9007199254740991",
};

async function storeErrors(metrics: Metrics): Promise<number> {
  const { values } = await metrics.storeErrors.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

async function assertCursors(inner: Store): Promise<void> {
  const metrics = createMetrics({ nodeId: "cursors", defaultMetrics: false });
  const breaker = new BreakerStore({
    inner,
    timeoutMs: 5000,
    metrics,
  });
  const store = new FailureModeStore({
    inner: breaker,
    failureMode: "closed",
    metrics,
  });
  const { app } = makeTestApp({ store, metrics });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await app.request("/check", jsonRequest({ key: `k${i}`, limit: 1 }));
      assert.equal(res.status, 200);
    }
    for (const route of ["/api/counters", "/api/blocks"]) {
      for (const cursor of [...BAD_CURSORS, ...OUT_OF_RANGE[inner.kind]]) {
        const path = `${route}?cursor=${encodeURIComponent(cursor)}`;
        const res = await app.request(path);
        const body = await res.json();
        assert.equal(res.status, 400, `${inner.kind} ${path}: ${JSON.stringify(body)}`);
        assert.equal(body.error.code, "invalid_cursor", path);
      }
      const largest = await app.request(`${route}?cursor=${LARGEST[inner.kind]}`);
      assert.equal(largest.status, 200, `${inner.kind} ${route}: ${await largest.text()}`);
    }
    assert.equal(await storeErrors(metrics), 0);
    assert.equal(breaker.circuitState, "closed");
  } finally {
    await store.close();
  }
}

Deno.test("GET /api/counters and /api/blocks answer 400 invalid_cursor for any cursor the memory store did not issue", async () => {
  await assertCursors(new MemoryStore({ sweepIntervalMs: 0 }));
});

Deno.test({
  name:
    "GET /api/counters and /api/blocks answer 400 invalid_cursor, not 503, for a SCAN cursor past 64 bits",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      await assertCursors(new RedisStore({ client }));
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name:
    "RedisStore.listCounters() rejects an out-of-range cursor with a RangeError, sending nothing",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client });
      await assert.rejects(
        () => store.listCounters({ cursor: "18446744073709551616-0", limit: 10 }),
        RangeError,
      );
      assert.doesNotMatch(await redis.cli("INFO", "commandstats"), /cmdstat_(scan|evalsha)/);
      assert.equal(store.status(), "up");
    } finally {
      await client.close();
    }
  },
});
