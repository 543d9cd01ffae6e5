import assert from "node:assert/strict";
import { createManualClock } from "../_helpers/manual_clock.ts";
import { ApiError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import {
  EXPIRY_BUCKET_MS,
  FULL_LOG_INTERVAL_MS,
  MemoryStore,
  WRITE_DRAIN_STEPS,
} from "../../src/store/memory_store.ts";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";
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
  clock.advance(200 + EXPIRY_BUCKET_MS);
  store.sweep(Infinity);
  assert.deepEqual(store.size, 50);
  assert.deepEqual(await store.countCounters(), 50);
});

Deno.test("MemoryStore never evicts a blocked key to make room at the key cap", async () => {
  const clock = createManualClock();
  const store = new MemoryStore({ clock, sweepIntervalMs: 0, maxKeys: 10 });
  const victim = req("victim", 2, 3_600_000);
  await store.check([victim]);
  await store.check([victim]);
  assert.deepEqual((await store.check([victim])).allowed, false);
  for (let i = 0; i < 25; i++) await store.check([req(`attacker${i}`, 10, 3_600_000)]);
  assert.deepEqual(store.size, 10);
  const outcome = await store.check([victim]);
  assert.deepEqual(outcome.allowed, false);
  assert.deepEqual(outcome.decisions[0]!.count, 2);
  assert.deepEqual(outcome.degraded, undefined);
  // Keys already held keep being counted exactly.
  const held = await store.check([req("attacker0", 10, 3_600_000)]);
  assert.deepEqual(held.decisions[0]!.count, 2);
  assert.deepEqual(held.degraded, undefined);
});

Deno.test("MemoryStore never evicts a blocked key to make room at the unit cap", async () => {
  const clock = createManualClock();
  // The attack scaled down: a sliding log stores one entry per request, so an attacker
  // fills a 1,000-unit cap with 1,200 requests over 12 keys.
  const store = new MemoryStore({ clock, sweepIntervalMs: 0, maxUnits: 1000 });
  const victim = req("victim", 2, 3_600_000);
  await store.check([victim]);
  await store.check([victim]);
  let refused = 0;
  for (let i = 0; i < 12; i++) {
    for (let n = 0; n < 100; n++) {
      const outcome = await store.check([req(`big${i}`, 1_000_000, 3_600_000)]);
      if (outcome.degraded !== undefined) refused++;
    }
  }
  assert.deepEqual(store.units <= 1000, true, `units ${store.units}`);
  assert.deepEqual(refused > 0, true, "the attacker reached the unit cap");
  const outcome = await store.check([victim]);
  assert.deepEqual(outcome.allowed, false);
  assert.deepEqual(outcome.decisions[0]!.count, 2);
});

Deno.test("MemoryStore answers a new key at the cap open: allowed, uncounted, degraded", async () => {
  const clock = createManualClock();
  const metrics = createMetrics({ nodeId: "test", defaultMetrics: false });
  const lines: string[] = [];
  const logger = createLogger({ write: (line) => lines.push(line) });
  const store = new MemoryStore({ clock, sweepIntervalMs: 0, maxKeys: 3, metrics, logger });
  for (let i = 0; i < 3; i++) await store.check([req(`k${i}`, 1, 60_000)]);
  for (let i = 0; i < 3; i++) {
    const outcome = await store.check([req("new", 1, 60_000)]);
    assert.deepEqual(outcome.allowed, true);
    assert.deepEqual(outcome.degraded, "open");
  }
  assert.deepEqual(store.size, 3);
  assert.deepEqual(store.refusals, 3);
  // A multi-limit check still counts its held key and skips the one that does not fit.
  const multi = await store.check([req("new", 1, 60_000), req("k0", 5, 60_000)]);
  assert.deepEqual(multi.degraded, "open");
  assert.deepEqual((await store.check([req("k0", 5, 60_000)])).decisions[0]!.count, 3);
  const text = await metrics.render();
  assert.match(
    text,
    /ratelimiter_memory_refusals_total\{cap="keys",answer="open",node_id="test"\} 4/,
  );
  assert.match(text, /ratelimiter_degraded_decisions_total\{mode="open",node_id="test"\} 4/);
  // Logged once per interval, not once per refusal.
  const logged = () => lines.filter((l) => JSON.parse(l).event === "memory_store_full").length;
  assert.deepEqual(logged(), 1);
  clock.advance(FULL_LOG_INTERVAL_MS);
  await store.check([req("k0", 100, 3_600_000), req("new2", 1, 60_000)]);
  assert.deepEqual(logged(), 2);
});

Deno.test("MemoryStore answers a new key at the cap closed: 503 store_full, nothing counted", async () => {
  const clock = createManualClock();
  const metrics = createMetrics({ nodeId: "test", defaultMetrics: false });
  const store = new MemoryStore({
    clock,
    sweepIntervalMs: 0,
    maxKeys: 2,
    whenFull: "closed",
    metrics,
  });
  await store.check([req("a", 5, 60_000)]);
  await store.check([req("b", 5, 60_000)]);
  await assert.rejects(
    () => store.check([req("c", 5, 60_000), req("a", 5, 60_000)]),
    (error) => error instanceof ApiError && error.status === 503 && error.code === "store_full",
  );
  assert.deepEqual((await store.check([req("a", 5, 60_000)])).decisions[0]!.count, 2);
  assert.match(
    await metrics.render(),
    /ratelimiter_memory_refusals_total\{cap="keys",answer="closed",node_id="test"\} 1/,
  );
  // A denial needs no room: answered 429 as usual.
  const denied = await store.check([req("c", 5, 60_000), { ...req("a", 5, 60_000), cost: 9 }]);
  assert.deepEqual(denied.allowed, false);
  // A peek needs no room either.
  assert.deepEqual((await store.check([{ ...req("c", 5, 60_000), cost: 0 }])).allowed, true);
});

Deno.test("MemoryStore takes new keys again once held ones expire, without a sweep", async () => {
  const clock = createManualClock();
  const store = new MemoryStore({ clock, sweepIntervalMs: 0, maxKeys: 100 });
  for (let i = 0; i < 100; i++) await store.check([req(`old${i}`, 1, 1000)]);
  assert.deepEqual((await store.check([req("fresh", 1, 1000)])).degraded, "open");
  clock.advance(1000 + EXPIRY_BUCKET_MS);
  for (let i = 0; i < 100; i++) {
    const outcome = await store.check([req(`new${i}`, 1, 1000)]);
    assert.deepEqual(outcome.degraded, undefined, `new${i}`);
  }
  assert.deepEqual(store.size, 100);
  assert.deepEqual(store.refusals, 1);
});

Deno.test("MemoryStore expiry keeps up with churn, with bounded work per operation", async () => {
  const clock = createManualClock();
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  const windowMs = 500;
  const perMs = 20;
  const total = 200_000;
  const createdAt: number[] = [];
  let maxSize = 0;
  let maxSteps = 0;
  for (let i = 0; i < total; i++) {
    if (i % perMs === 0 && i > 0) clock.advance(1);
    // One key in ten shortens its window on a second hit: its expiry moves earlier.
    const before = store.expirySteps;
    await store.check([req(`churn:${i}`, 10, windowMs)]);
    if (i % 10 === 0) await store.check([req(`churn:${i}`, 10, windowMs / 5)]);
    maxSteps = Math.max(maxSteps, store.expirySteps - before);
    createdAt.push(clock());
    // Every 100 ms of simulated time, a background sweep with a small budget.
    if (i % (perMs * 100) === 0) {
      const swept = store.sweep(500);
      assert.deepEqual(swept <= 500, true);
    }
    maxSize = Math.max(maxSize, store.size);
  }
  // Live: keys written in the last window; slack: one expiry bucket and a tick of arrivals.
  const liveBound = perMs * (windowMs + EXPIRY_BUCKET_MS + 2);
  assert.deepEqual(maxSize <= liveBound, true, `max size ${maxSize} > ${liveBound}`);
  assert.deepEqual(maxSteps <= 2 * WRITE_DRAIN_STEPS, true, `max steps ${maxSteps}`);
  // After the traffic, the sweeps free everything without any write.
  clock.advance(windowMs + EXPIRY_BUCKET_MS);
  while (store.sweep(1000) > 0) { /* each call is bounded */ }
  assert.deepEqual(store.size, 0);
  assert.deepEqual(store.units, 0);
});

Deno.test("MemoryStore keeps a key written again and again, and drops it after its last write", async () => {
  const clock = createManualClock();
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  for (let t = 0; t < 5000; t += 50) {
    await store.check([req("hot", 1000, 200)]);
    clock.advance(50);
    store.sweep(Infinity);
    assert.deepEqual(store.size, 1, `at ${t}`);
  }
  clock.advance(200 + EXPIRY_BUCKET_MS);
  store.sweep(Infinity);
  assert.deepEqual(store.size, 0);
});

Deno.test("MemoryStore keeps a victim blocked through the HTTP API while an attacker fills it", async () => {
  const store = new MemoryStore({ sweepIntervalMs: 0, maxKeys: 50, maxUnits: 2000 });
  // The limits policy would refuse these limits before the store: lift it to test the store.
  const env = { RATELIMITER_MAX_LIMIT: "1000000", RATELIMITER_MAX_COST: "1000000" };
  const { app } = makeTestApp({ store, env });
  const victim = () =>
    app.request("/check", jsonRequest({ key: "victim", limit: 2, window_ms: 3_600_000 }));
  assert.deepEqual((await victim()).status, 200);
  assert.deepEqual((await victim()).status, 200);
  assert.deepEqual((await victim()).status, 429);
  // The attack, scaled to the caps: heavy sliding-log checks on fresh keys, then many keys.
  const heavy = Array.from({ length: 100 }, (_, i) => ({
    key: `heavy:${i}`,
    limit: 1_000_000,
    cost: 100,
    window_ms: 3_600_000,
  }));
  assert.deepEqual((await app.request("/check/batch", jsonRequest({ checks: heavy }))).status, 200);
  for (let i = 0; i < 100; i++) {
    await app.request("/check", jsonRequest({ key: `fill:${i}`, limit: 5, window_ms: 3_600_000 }));
  }
  assert.deepEqual(store.size <= 50 && store.units <= 2000, true);
  const response = await victim();
  assert.deepEqual(response.status, 429);
  assert.deepEqual((await response.json()).current_count, 2);
});

Deno.test("MemoryStore at the cap answers per whenFull through the HTTP API", async () => {
  for (const whenFull of ["open", "closed"] as const) {
    const metrics = createMetrics({ nodeId: "test", defaultMetrics: false });
    const store = new MemoryStore({ sweepIntervalMs: 0, maxKeys: 1, whenFull, metrics });
    const { app } = makeTestApp({ store, metrics });
    const check = (key: string) =>
      app.request("/check", jsonRequest({ key, limit: 5, window_ms: 60_000 }));
    assert.deepEqual((await check("first")).status, 200);
    const response = await check("second");
    if (whenFull === "open") {
      assert.deepEqual(response.status, 200);
      assert.deepEqual(response.headers.get("X-RateLimit-Degraded"), "open");
      assert.deepEqual((await response.json()).degraded, true);
    } else {
      assert.deepEqual(response.status, 503);
      assert.deepEqual((await response.json()).error.code, "store_full");
      assert.deepEqual(response.headers.get("Retry-After"), "1");
    }
    const text = await (await app.request("/metrics")).text();
    assert.match(
      text,
      new RegExp(`ratelimiter_memory_refusals_total\\{cap="keys",answer="${whenFull}"[^}]*\\} 1`),
    );
  }
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

Deno.test("MemoryStore rejects caps that are not positive integers", () => {
  assert.throws(() => new MemoryStore({ sweepIntervalMs: 0, maxKeys: 0 }), RangeError);
  assert.throws(() => new MemoryStore({ sweepIntervalMs: 0, maxUnits: 1.5 }), RangeError);
});

/** Creates `count` keys `<name><i>` (sliding log, limit 10) in batches, all at the clock's now. */
async function fill(store: MemoryStore, name: string, count: number, windowMs: number) {
  for (let first = 0; first < count; first += 1000) {
    const groups = [];
    for (let i = first; i < Math.min(count, first + 1000); i++) {
      groups.push([req(`${name}${i}`, 10, windowMs)]);
    }
    await store.checkMany(groups);
  }
}

Deno.test("MemoryStore.listCounters() returns each live key once while keys come and go between pages", async () => {
  const clock = createManualClock();
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  const HOUR = 3_600_000;
  // Long-lived keys interleaved with short-lived ones, which expire and are dropped mid-walk.
  for (let first = 0; first < 50_000; first += 500) {
    const groups = [];
    for (let i = first; i < first + 500; i++) {
      groups.push([req(`stay:${i}`, 10, HOUR)], [req(`brief:${i}`, 10, 1000)]);
    }
    await store.checkMany(groups);
  }
  clock.advance(2000);
  const created = () => 100_000 + madeBetweenPages;
  let madeBetweenPages = 0;
  const seen = new Map<string, number>();
  const stepsBefore = store.listSteps;
  let slotsAtMost = 0;
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await store.listCounters({ cursor, limit: 100 });
    for (const c of page.counters) seen.set(c.key, (seen.get(c.key) ?? 0) + 1);
    cursor = page.nextCursor;
    pages++;
    // Between pages: expired keys are dropped, new keys come (and expire later), some are reset.
    store.sweep(2000);
    await fill(store, `new:${pages}:`, 20, 1000);
    madeBetweenPages += 20;
    if (pages > 1) { for (let i = 0; i < 10; i++) await store.reset(`new:${pages - 1}:${i}`); }
    clock.advance(100);
    assert.ok(store.orderSlots <= 2 * store.size, `${store.orderSlots} slots, ${store.size} keys`);
    slotsAtMost = Math.max(slotsAtMost, store.orderSlots);
  } while (cursor !== undefined && pages < 5000);
  assert.equal(cursor, undefined);
  for (let i = 0; i < 50_000; i++) assert.equal(seen.get(`stay:${i}`), 1, `stay:${i}`);
  for (const [key, times] of seen) assert.equal(times, 1, key);
  assert.ok(store.orderSlots < slotsAtMost, "dropped keys were compacted away during the walk");
  // Each key ever created is examined at most once over the whole walk: seeking is not a walk.
  const steps = store.listSteps - stepsBefore;
  assert.ok(steps <= created(), `${steps} keys examined, ${created()} ever created`);
});

Deno.test("MemoryStore.listCounters() examines at most limit × 10 keys per page, even matching none", async () => {
  const clock = createManualClock();
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  await fill(store, "user:", 100_000, 60_000);
  let steps = store.listSteps;
  const examined = () => -steps + (steps = store.listSteps);
  const first = await store.listCounters({ limit: 100, prefix: "nothing:" });
  assert.deepEqual(first.counters, []);
  assert.notEqual(first.nextCursor, undefined, "a page stopped by its work bound has a cursor");
  assert.ok(examined() <= 1000);
  // Following the cursors reaches the end, a bounded page at a time.
  let cursor = first.nextCursor;
  let pages = 1;
  while (cursor !== undefined) {
    const page = await store.listCounters({ cursor, limit: 100, prefix: "nothing:" });
    assert.deepEqual(page.counters, []);
    assert.ok(examined() <= 1000);
    cursor = page.nextCursor;
    pages++;
  }
  assert.equal(pages, 100);
  // A page deep into the store seeks to its cursor instead of walking the keys before it.
  const deep = await store.listCounters({ cursor: "99990", limit: 100 });
  assert.equal(deep.counters.length, 10);
  assert.equal(deep.nextCursor, undefined);
  assert.ok(examined() <= 10);
  // So do pages of keys that all expired, before any sweep drops them.
  clock.advance(61_000);
  const expired = await store.listCounters({ limit: 5 });
  assert.deepEqual(expired.counters, []);
  assert.notEqual(expired.nextCursor, undefined);
  assert.ok(examined() <= 50);
});

Deno.test("MemoryStore keeps its creation order within twice the keys held under churn", async () => {
  const clock = createManualClock();
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  await fill(store, "stay:", 100, 3_600_000);
  for (let round = 0; round < 20; round++) {
    await fill(store, `churn:${round}:`, 10_000, 1000);
    for (let i = 0; i < 5000; i++) await store.reset(`churn:${round}:${i}`);
    assert.ok(store.orderSlots <= 2 * store.size, `${store.orderSlots} slots, ${store.size} keys`);
    clock.advance(2000);
    store.sweep(1_000_000);
    assert.ok(store.orderSlots <= 2 * store.size, `${store.orderSlots} slots, ${store.size} keys`);
  }
  assert.equal(store.size, 100);
  assert.ok(store.orderSlots <= 200);
});
