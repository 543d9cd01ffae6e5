import assert from "node:assert/strict";
import {
  slidingLogCommit,
  slidingLogEvaluate,
  slidingLogExpiresAt,
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

Deno.test("slidingLogEvaluate() compacts pruned entries without losing live ones", () => {
  const big = { ...request, limit: 10_000, windowMs: 100 };
  let state: SlidingLogState | undefined;
  for (let t = 0; t < 5000; t++) state = slidingLogCommit(state, big, t);
  const d = slidingLogEvaluate(state, big, 5000);
  assert.deepEqual(d.count, 100);
  assert.deepEqual(state!.entries.length - state!.head, 99);
  assert.deepEqual(state!.entries.length < 5000, true);
  assert.deepEqual(slidingLogExpiresAt(state!), 4999 + 100);
});
