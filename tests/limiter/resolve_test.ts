import assert from "node:assert/strict";
import { UNBOUNDED_LIMITS_POLICY } from "../../src/limiter/limits_policy.ts";
import {
  noOverrides,
  type Override,
  resolveLimit,
  resolveLimitWithin,
} from "../../src/limiter/resolve.ts";

const defaults = { limit: 100, windowMs: 60_000, algorithm: "sliding_log" as const };
const only = (key: string, override: Override) => ({
  get: (k: string) => k === key ? override : undefined,
});

Deno.test("resolveLimit() takes the request's values over the defaults", () => {
  assert.deepEqual(resolveLimit({ key: "k" }, defaults, noOverrides), {
    key: "k",
    algorithm: "sliding_log",
    limit: 100,
    windowMs: 60_000,
    cost: 1,
  });
  assert.deepEqual(
    resolveLimit(
      { key: "k", limit: 5, windowMs: 1000, algorithm: "gcra", cost: 0, burst: 2 },
      defaults,
      noOverrides,
    ),
    { key: "k", algorithm: "gcra", limit: 5, windowMs: 1000, cost: 0, burst: 2 },
  );
});

Deno.test("resolveLimit() keeps burst only for gcra and refillRate only for token_bucket", () => {
  const tb = resolveLimit(
    { key: "k", algorithm: "token_bucket", burst: 3, refillRate: 7 },
    defaults,
    noOverrides,
  );
  assert.equal(tb.refillRate, 7);
  assert.equal("burst" in tb, false);
  const sl = resolveLimit({ key: "k", burst: 3, refillRate: 7 }, defaults, noOverrides);
  assert.equal("burst" in sl || "refillRate" in sl, false);
});

Deno.test("resolveLimit() lets an override decide everything but the cost", () => {
  const overrides = only("vip", {
    limit: 3,
    windowMs: 5000,
    algorithm: "token_bucket",
    refillRate: 1,
  });
  assert.deepEqual(
    resolveLimit(
      { key: "vip", limit: 50, windowMs: 10, algorithm: "gcra", cost: 2, burst: 40 },
      defaults,
      overrides,
    ),
    { key: "vip", algorithm: "token_bucket", limit: 3, windowMs: 5000, cost: 2, refillRate: 1 },
  );
  // Other keys are not affected.
  assert.equal(resolveLimit({ key: "other", limit: 9 }, defaults, overrides).limit, 9);
});

Deno.test("resolveLimit() under an override without an algorithm uses the default, not the client's", () => {
  const overrides = only("k", { limit: 3, windowMs: 5000 });
  const request = resolveLimit({ key: "k", algorithm: "fixed_window", refillRate: 9 }, {
    ...defaults,
    algorithm: "gcra",
  }, overrides);
  assert.deepEqual(request, { key: "k", algorithm: "gcra", limit: 3, windowMs: 5000, cost: 1 });
});

const tight = {
  ...UNBOUNDED_LIMITS_POLICY,
  sliding_log: { limit: 10, windowMs: 1000, cost: 5 },
  gcra: { limit: 20, windowMs: 1000, cost: 20 },
};

Deno.test("resolveLimitWithin() checks the values the request names against the policy", () => {
  const within = resolveLimitWithin(
    { key: "k", algorithm: "sliding_log", limit: 10, windowMs: 1000, cost: 5 },
    defaults,
    noOverrides,
    tight,
  );
  assert.equal(within.violation, undefined);
  assert.equal(within.request.limit, 10);
  const over = resolveLimitWithin({ key: "k", limit: 11 }, defaults, noOverrides, tight);
  assert.deepEqual(over.violation, {
    field: "limit",
    value: 11,
    algorithm: "sliding_log",
    max: 10,
  });
  const burst = resolveLimitWithin(
    { key: "k", algorithm: "gcra", limit: 5, burst: 21 },
    defaults,
    noOverrides,
    tight,
  );
  assert.equal(burst.violation?.field, "burst");
});

Deno.test("resolveLimitWithin() leaves the defaults and a key's override to the operator", () => {
  // The defaults (limit 100, window 60 s) are above this policy's sliding-log maxima.
  assert.equal(resolveLimitWithin({ key: "k" }, defaults, noOverrides, tight).violation, undefined);
  const overrides = {
    get: (key: string): Override | undefined =>
      key === "vip" ? { limit: 50_000, windowMs: 86_400_000, algorithm: "sliding_log" } : undefined,
  };
  // Under an override the request's own limit is ignored, so not checked either.
  const vip = resolveLimitWithin({ key: "vip", limit: 1_000_000 }, defaults, overrides, tight);
  assert.equal(vip.violation, undefined);
  assert.equal(vip.request.limit, 50_000);
  // The cost is always the client's.
  const cost = resolveLimitWithin({ key: "vip", cost: 6 }, defaults, overrides, tight);
  assert.equal(cost.violation?.field, "cost");
});

Deno.test("resolveLimitWithin() applies the maxima of the algorithm that decides", () => {
  // An override's algorithm decides, so its maxima bound the client's cost.
  const overrides = {
    get: (): Override => ({ limit: 100, windowMs: 1000, algorithm: "gcra" }),
  };
  const request = { key: "k", algorithm: "sliding_log" as const, cost: 15 };
  assert.equal(resolveLimitWithin(request, defaults, overrides, tight).violation, undefined);
  assert.equal(
    resolveLimitWithin(request, defaults, noOverrides, tight).violation?.algorithm,
    "sliding_log",
  );
});
