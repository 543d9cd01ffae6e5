import assert from "node:assert/strict";
import { checkBodySchema, fastCheckBody } from "../../src/http/check_input.ts";
import { MAX_LIMIT, MAX_WINDOW_MS } from "../../src/limiter/bounds.ts";

const BODIES: unknown[] = [
  { key: "a" },
  { key: "user:1", limit: 10, window_ms: 1000, algorithm: "gcra", cost: 0 },
  { cost: 3, key: "{t}x", algorithm: "token_bucket" },
  { key: "é€😀", limit: MAX_LIMIT, window_ms: MAX_WINDOW_MS, cost: MAX_LIMIT },
  { key: "a", cost: -0 },
  { key: "x".repeat(512) },
  // null in an optional field is absent.
  { key: "a", algorithm: null },
  { key: "a", limit: null },
  { key: "a", limit: 3, window_ms: null, algorithm: null, cost: null },
  // Everything below is rejected by the schema or needs it (other fields).
  { key: "x".repeat(513) },
  { key: "é".repeat(257) },
  { key: "" },
  { key: "a\u0000b" },
  { key: "\ud800" },
  { key: 5 },
  { key: "a", limit: 0 },
  { key: "a", limit: MAX_LIMIT + 1 },
  { key: "a", limit: 1.5 },
  { key: "a", limit: "10" },
  { key: "a", limit: 2 ** 53 },
  { key: "a", window_ms: 0 },
  { key: "a", window_ms: MAX_WINDOW_MS + 1 },
  { key: "a", cost: -1 },
  { key: "a", algorithm: "nope" },
  { key: "a", algorithm: "toString" },
  { key: "a", limit: undefined },
  { key: null },
  { key: "a", extra: null },
  { key: "a", burst: null },
  { key: "a", limits: null },
  { key: "a", limit: null, window_ms: 0 },
  { key: "a", burst: 2, algorithm: "gcra" },
  { key: "a", refill_rate: 2, algorithm: "token_bucket" },
  { key: "a", burst: 2 },
  { key: "a", extra: 1 },
  { limits: [{ key: "a" }] },
  { key: "a", limits: [{ key: "b" }] },
  {},
  JSON.parse('{"__proto__": 1, "key": "a"}'),
  Object.create({ key: "inherited" }),
  Object.assign(Object.create(null), { key: "a" }),
  ["a"],
  "a",
  null,
  42,
];

Deno.test("fastCheckBody accepts only what checkBodySchema accepts, with the same result", () => {
  let fast = 0;
  for (const body of BODIES) {
    const parsed = fastCheckBody(body);
    const reference = checkBodySchema.safeParse(body);
    if (parsed === undefined) continue;
    fast++;
    assert.ok(reference.success, `fast path accepted what the schema rejects: ${String(body)}`);
    assert.deepEqual(parsed, reference.data, JSON.stringify(body));
  }
  // The valid common shapes above do take the fast path.
  assert.equal(fast, 9);
});

Deno.test("checkBodySchema reads null in an optional field as absent, and null as a key as invalid", () => {
  assert.deepEqual(checkBodySchema.parse({ key: "a", window_ms: null, burst: null }), {
    key: "a",
    window_ms: undefined,
    burst: undefined,
  });
  const multi = checkBodySchema.parse({
    key: null,
    limits: [{ key: "a", limit: null, algorithm: null }],
  });
  assert.equal(multi.key, undefined);
  assert.equal(multi.limits?.[0]?.limit, undefined);
  assert.equal(checkBodySchema.safeParse({ key: null }).success, false);
  assert.equal(checkBodySchema.safeParse({ limits: [{ key: null }] }).success, false);
  // Still exactly one of key or limits: null for both is neither.
  assert.equal(checkBodySchema.safeParse({ key: null, limits: null }).success, false);
});
