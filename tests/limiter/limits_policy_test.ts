import assert from "node:assert/strict";
import { MAX_LIMIT, MAX_WINDOW_MS } from "../../src/limiter/bounds.ts";
import {
  DEFAULT_LIMITS_POLICY,
  findPolicyViolation,
  UNBOUNDED_LIMITS_POLICY,
} from "../../src/limiter/limits_policy.ts";
import { ALGORITHMS } from "../../src/limiter/types.ts";

Deno.test("findPolicyViolation() allows values up to the maxima, inclusive", () => {
  assert.equal(
    findPolicyViolation(
      { limit: 10_000, windowMs: 86_400_000, cost: 10_000 },
      "sliding_log",
      DEFAULT_LIMITS_POLICY,
    ),
    undefined,
  );
  assert.equal(findPolicyViolation({}, "sliding_log", DEFAULT_LIMITS_POLICY), undefined);
});

Deno.test("findPolicyViolation() names the field, value, algorithm and maximum", () => {
  const policy = DEFAULT_LIMITS_POLICY;
  assert.deepEqual(findPolicyViolation({ limit: 10_001 }, "sliding_log", policy), {
    field: "limit",
    value: 10_001,
    algorithm: "sliding_log",
    max: 10_000,
  });
  assert.deepEqual(findPolicyViolation({ windowMs: 86_400_001 }, "sliding_log", policy), {
    field: "window_ms",
    value: 86_400_001,
    algorithm: "sliding_log",
    max: 86_400_000,
  });
  assert.deepEqual(findPolicyViolation({ cost: 10_001 }, "sliding_log", policy), {
    field: "cost",
    value: 10_001,
    algorithm: "sliding_log",
    max: 10_000,
  });
});

Deno.test("findPolicyViolation() bounds burst and refill_rate by the algorithm's maximum limit", () => {
  const policy = { ...DEFAULT_LIMITS_POLICY, gcra: { limit: 100, windowMs: 1000, cost: 100 } };
  assert.equal(findPolicyViolation({ burst: 101 }, "gcra", policy)?.field, "burst");
  assert.equal(findPolicyViolation({ burst: 100 }, "gcra", policy), undefined);
  const tb = { ...DEFAULT_LIMITS_POLICY, token_bucket: { limit: 5, windowMs: 1000, cost: 5 } };
  assert.deepEqual(findPolicyViolation({ refillRate: 6 }, "token_bucket", tb), {
    field: "refill_rate",
    value: 6,
    algorithm: "token_bucket",
    max: 5,
  });
});

Deno.test("DEFAULT_LIMITS_POLICY refuses issue 9's sliding-log attacks; the O(1) algorithms keep the hard bounds", () => {
  // One request asking for a million sliding-log entries, for a day or for 30 days.
  const attack = { limit: 1_000_000, windowMs: 1, cost: 1_000_000 };
  assert.equal(findPolicyViolation(attack, "sliding_log", DEFAULT_LIMITS_POLICY)?.field, "limit");
  assert.equal(
    findPolicyViolation({ cost: 1_000_000 }, "sliding_log", DEFAULT_LIMITS_POLICY)?.field,
    "cost",
  );
  assert.equal(
    findPolicyViolation({ windowMs: MAX_WINDOW_MS }, "sliding_log", DEFAULT_LIMITS_POLICY)?.field,
    "window_ms",
  );
  for (const algorithm of ALGORITHMS.filter((a) => a !== "sliding_log")) {
    const max = { limit: MAX_LIMIT, windowMs: MAX_WINDOW_MS, cost: MAX_LIMIT };
    assert.equal(findPolicyViolation(max, algorithm, DEFAULT_LIMITS_POLICY), undefined);
  }
  for (const algorithm of ALGORITHMS) {
    const max = { limit: MAX_LIMIT, windowMs: MAX_WINDOW_MS, cost: MAX_LIMIT };
    assert.equal(findPolicyViolation(max, algorithm, UNBOUNDED_LIMITS_POLICY), undefined);
  }
});
