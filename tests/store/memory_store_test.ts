import assert from "node:assert/strict";
import { createManualClock } from "../../src/clock.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import {
  FIXED_WINDOW_CASES,
  GCRA_CASES,
  MIXED_CASES,
  runStoreCases,
  SLIDING_LOG_CASES,
  SLIDING_WINDOW_CASES,
  TOKEN_BUCKET_CASES,
} from "./_cases.ts";

const req = (key: string, limit = 10, windowMs = 1000) => ({
  key,
  algorithm: "sliding_log" as const,
  limit,
  windowMs,
  cost: 1,
});

const TABLES = {
  "sliding-log": SLIDING_LOG_CASES,
  "fixed-window": FIXED_WINDOW_CASES,
  "sliding-window": SLIDING_WINDOW_CASES,
  "token-bucket": TOKEN_BUCKET_CASES,
  "gcra": GCRA_CASES,
  "multi-algorithm": MIXED_CASES,
};

for (const [name, cases] of Object.entries(TABLES)) {
  Deno.test(`MemoryStore passes the shared ${name} cases`, async (t) => {
    await runStoreCases(t, cases, (clock) => new MemoryStore({ clock, sweepIntervalMs: 0 }));
  });
}

Deno.test("MemoryStore.sweep() drops expired keys", async () => {
  const clock = createManualClock();
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  for (let i = 0; i < 100; i++) await store.check([req(`k${i}`, 10, i < 50 ? 100 : 10_000)]);
  assert.deepEqual(store.size, 100);
  clock.advance(200);
  store.sweep(Infinity);
  assert.deepEqual(store.size, 50);
  assert.deepEqual(await store.countCounters(), 50);
});

Deno.test("MemoryStore caps the number of keys and evicts the oldest", async () => {
  const clock = createManualClock();
  const store = new MemoryStore({ clock, sweepIntervalMs: 0, maxKeys: 10 });
  for (let i = 0; i < 25; i++) await store.check([req(`k${i}`)]);
  assert.deepEqual(store.size, 10);
  assert.deepEqual(store.evictions, 15);
  // The newest keys are kept with their counts.
  const outcome = await store.check([req("k24")]);
  assert.deepEqual(outcome.decisions[0]!.count, 2);
});

Deno.test("MemoryStore caps stored units of big sliding logs", async () => {
  const clock = createManualClock();
  const store = new MemoryStore({ clock, sweepIntervalMs: 0, maxUnits: 1000 });
  // A sliding log stores one entry per request (whatever its cost): 300 requests per key.
  for (let i = 0; i < 10; i++) {
    for (let n = 0; n < 300; n++) await store.check([req(`big${i}`, 1_000_000, 60_000)]);
  }
  assert.deepEqual(store.size <= 4, true, `size ${store.size}`);
});

Deno.test("MemoryStore.reset() clears a key and reports whether it existed", async () => {
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  await store.check([req("a", 1)]);
  assert.deepEqual((await store.check([req("a", 1)])).allowed, false);
  assert.deepEqual(await store.reset("a"), true);
  assert.deepEqual(await store.reset("a"), false);
  assert.deepEqual((await store.check([req("a", 1)])).allowed, true);
});

Deno.test("MemoryStore.listCounters() pages through every live key exactly once", async () => {
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  for (let i = 0; i < 250; i++) await store.check([req(`user:${i}`)]);
  await store.check([req("other")]);
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listCounters({ cursor, limit: 40, prefix: "user:" });
    seen.push(...page.counters.map((c) => c.key));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  assert.deepEqual(seen.length, 250);
  assert.deepEqual(new Set(seen).size, 250);
});
