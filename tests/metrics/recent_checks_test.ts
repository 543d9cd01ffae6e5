import assert from "node:assert/strict";
import { bucketQuantile, RecentChecks } from "../../src/metrics/recent_checks.ts";
import { createManualClock } from "../_helpers/manual_clock.ts";

const BOUNDS = [0.001, 0.01, 0.1];

function setup(windowMs = 3000) {
  const clock = createManualClock(0);
  const totals = { allowed: 0, blocked: 0, latency: [0, 0, 0, 0] };
  const recent = new RecentChecks({ read: () => totals, buckets: BOUNDS, windowMs, clock });
  return { clock, totals, recent };
}

Deno.test("RecentChecks.figures() is zero with no sample or no elapsed time", () => {
  const { totals, recent } = setup();
  totals.allowed = 50;
  assert.deepEqual(recent.figures(), {
    allowedPerSecond: 0,
    blockedPerSecond: 0,
    p99CheckMs: null,
  });
  recent.sample();
  assert.deepEqual(recent.figures(), {
    allowedPerSecond: 0,
    blockedPerSecond: 0,
    p99CheckMs: null,
  });
});

Deno.test("RecentChecks.figures() gives rates per second since the oldest sample", () => {
  const { clock, totals, recent } = setup();
  recent.sample();
  clock.advance(1000);
  totals.allowed = 10;
  totals.blocked = 4;
  recent.sample();
  clock.advance(1000);
  totals.allowed = 30;
  totals.blocked = 6;
  // 30 allowed and 6 blocked over 2 s.
  assert.deepEqual(recent.figures(), {
    allowedPerSecond: 15,
    blockedPerSecond: 3,
    p99CheckMs: null,
  });
});

Deno.test("RecentChecks forgets readings older than its window", () => {
  const { clock, totals, recent } = setup(2000);
  // A burst of 1000 checks, then quiet: it leaves the figures once the ring has turned over.
  totals.allowed = 1000;
  totals.latency = [0, 0, 1000, 0];
  recent.sample();
  for (let s = 0; s < 3; s++) {
    clock.advance(1000);
    recent.sample();
  }
  clock.advance(500);
  totals.allowed = 1005;
  totals.latency = [5, 0, 1000, 0];
  const figures = recent.figures();
  // Oldest kept reading: 2 s ago (ring of 3), 5 checks since, all under 1 ms.
  assert.equal(figures.allowedPerSecond, 2);
  assert.ok(figures.p99CheckMs !== null && figures.p99CheckMs <= 1, `${figures.p99CheckMs}`);
});

Deno.test("RecentChecks.figures() gives the p99 of the checks timed in the window", () => {
  const { clock, totals, recent } = setup();
  recent.sample();
  clock.advance(1000);
  // 100 checks: 98 under 1 ms, 2 between 10 and 100 ms: the p99 is in the third bucket.
  totals.allowed = 100;
  totals.latency = [98, 0, 2, 0];
  const p99 = recent.figures().p99CheckMs;
  assert.ok(p99 !== null && p99 > 10 && p99 <= 100, `${p99}`);
});

Deno.test("new RecentChecks() rejects a window that is not whole seconds", () => {
  assert.throws(
    () =>
      new RecentChecks({
        read: () => ({ allowed: 0, blocked: 0, latency: [] }),
        buckets: [],
        windowMs: 1500,
      }),
    RangeError,
  );
});

Deno.test("bucketQuantile() interpolates within the bucket like histogram_quantile", () => {
  assert.equal(bucketQuantile(0.99, BOUNDS, [0, 0, 0, 0]), undefined);
  // All in the first bucket [0, 1 ms]: 0.99 of the way up.
  assert.equal(bucketQuantile(0.99, BOUNDS, [100, 0, 0, 0]), 0.00099);
  // 50 in [0, 1 ms], 50 in (1, 10 ms]: the median is the first bucket's top.
  assert.equal(bucketQuantile(0.5, BOUNDS, [50, 50, 0, 0]), 0.001);
  // Above every bound: the highest bound.
  assert.equal(bucketQuantile(0.99, BOUNDS, [1, 0, 0, 99]), 0.1);
});
