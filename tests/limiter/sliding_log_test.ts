import assert from "node:assert/strict";
import {
  SLIDING_LOG_MOD,
  SLIDING_LOG_PRUNE,
  slidingLogCommit,
  slidingLogEvaluate,
  slidingLogExpiresAt,
  slidingLogSize,
  type SlidingLogState,
} from "../../src/limiter/sliding_log.ts";

const request = { key: "k", algorithm: "sliding_log" as const, limit: 3, windowMs: 1000, cost: 1 };

Deno.test("slidingLogEvaluate() allows up to the limit and never mutates meaning", () => {
  let state: SlidingLogState | undefined;
  for (let i = 0; i < 3; i++) {
    const d = slidingLogEvaluate(state, request, i);
    assert.deepEqual(d.allowed, true);
    state = slidingLogCommit(state, request, i);
  }
  const denied = slidingLogEvaluate(state, request, 10);
  assert.deepEqual(denied, {
    allowed: false,
    count: 3,
    remaining: 0,
    retryAfterMs: 990,
    resetAfterMs: 990,
  });
  // Evaluating again gives the same answer: evaluation consumes nothing.
  assert.deepEqual(slidingLogEvaluate(state, request, 10), denied);
});

Deno.test("slidingLogEvaluate() never changes the state, even under another window", () => {
  let state: SlidingLogState | undefined;
  for (let i = 0; i < 3; i++) state = slidingLogCommit(state, request, i);
  const copy = structuredClone(state);
  slidingLogEvaluate(state, { ...request, windowMs: 1, cost: 0 }, 500);
  slidingLogEvaluate(state, { ...request, windowMs: 1 }, 500);
  assert.deepEqual(state, copy);
});

Deno.test("slidingLogCommit() stores one entry per request, whatever its cost", () => {
  const big = { ...request, limit: 1_000_000, cost: 1_000_000, windowMs: 2_592_000_000 };
  assert.deepEqual(slidingLogEvaluate(undefined, big, 0).allowed, true);
  const state = slidingLogCommit(undefined, big, 0);
  assert.deepEqual(slidingLogSize(state), 1);
  assert.deepEqual(slidingLogEvaluate(state, { ...big, cost: 0 }, 1).count, 1_000_000);
});

Deno.test("slidingLogCommit() prunes at most SLIDING_LOG_PRUNE expired entries per call", () => {
  const r = { ...request, limit: 10_000, windowMs: 100 };
  let state: SlidingLogState | undefined;
  for (let i = 0; i < 3000; i++) state = slidingLogCommit(state, r, 0);
  state = slidingLogCommit(state, r, 100);
  assert.deepEqual(slidingLogSize(state), 3000 - SLIDING_LOG_PRUNE + 1);
  assert.deepEqual(slidingLogEvaluate(state, r, 100).count, 2);
  // The backlog drains over later commits, and the compacted arrays keep the live entries.
  for (let t = 101; t <= 130; t++) state = slidingLogCommit(state, r, t);
  assert.deepEqual(slidingLogSize(state), 31);
  assert.deepEqual(state.times.length < 3000, true);
  assert.deepEqual(slidingLogEvaluate(state, { ...r, cost: 0 }, 150).count, 31);
  assert.deepEqual(slidingLogExpiresAt(state), 130 + 100);
});

Deno.test("slidingLogCommit() wraps the cumulative count and still counts exactly", () => {
  const r = { ...request, limit: 100, cost: 20 };
  // A key that has committed almost SLIDING_LOG_MOD units over its life.
  const state: SlidingLogState = {
    times: [5_000_000],
    cums: [SLIDING_LOG_MOD - 10],
    costs: [5],
    head: 0,
    limit: 100,
    windowMs: 1000,
  };
  slidingLogCommit(state, r, 5000);
  assert.deepEqual(state.cums, [SLIDING_LOG_MOD - 10, 10]);
  // The wrapped entry would tie with the newest one: it is moved 1 us later to keep its order.
  assert.deepEqual(state.times, [5_000_000, 5_000_001]);
  assert.deepEqual(slidingLogEvaluate(state, { ...r, cost: 0 }, 5000).count, 25);
  assert.deepEqual(slidingLogEvaluate(state, { ...r, cost: 80 }, 5500), {
    allowed: false,
    count: 25,
    remaining: 75,
    retryAfterMs: 500,
    resetAfterMs: 500,
  });
});
