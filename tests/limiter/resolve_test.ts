import assert from "node:assert/strict";
import { noOverrides, type Override, resolveLimit } from "../../src/limiter/resolve.ts";

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
