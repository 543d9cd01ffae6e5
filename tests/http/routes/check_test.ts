import assert from "node:assert/strict";
import { jsonRequest, makeTestApp } from "../../_helpers/app.ts";

Deno.test("POST /check allows up to the limit, then answers 429 with the standard headers", async () => {
  const { app } = makeTestApp();
  for (let i = 1; i <= 3; i++) {
    const res = await app.request("/check", jsonRequest({ key: "k", limit: 3, window_ms: 10_000 }));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.allowed, true);
    assert.equal(body.current_count, i);
    assert.equal(body.remaining, 3 - i);
    assert.equal(body.limit, 3);
    assert.equal(body.window_ms, 10_000);
    assert.equal(res.headers.get("X-RateLimit-Limit"), "3");
    assert.equal(res.headers.get("X-RateLimit-Remaining"), String(3 - i));
    assert.equal(res.headers.get("RateLimit-Policy"), '"default";q=3;w=10');
    assert.equal(res.headers.get("Retry-After"), null);
  }
  const res = await app.request("/check", jsonRequest({ key: "k", limit: 3, window_ms: 10_000 }));
  assert.equal(res.status, 429);
  const body = await res.json();
  assert.equal(body.allowed, false);
  assert.equal(body.remaining, 0);
  assert.ok(body.retry_after_seconds >= 1 && body.retry_after_seconds <= 10);
  assert.equal(res.headers.get("Retry-After"), String(body.retry_after_seconds));
  assert.equal(res.headers.get("X-RateLimit-Reset"), String(body.retry_after_seconds));
  assert.equal(res.headers.get("RateLimit"), `"default";r=0;t=${body.retry_after_seconds}`);
});

Deno.test("POST /check uses the configured defaults when the request names none", async () => {
  const { app } = makeTestApp({
    env: { RATELIMITER_DEFAULT_LIMIT: "2", RATELIMITER_DEFAULT_WINDOW_MS: "5000" },
  });
  const body = await (await app.request("/check", jsonRequest({ key: "d" }))).json();
  assert.equal(body.limit, 2);
  assert.equal(body.window_ms, 5000);
});

Deno.test("POST /check applies an override over the request's own values", async () => {
  const { app } = makeTestApp({
    overrides: { get: (key) => key === "vip" ? { limit: 1, windowMs: 1000 } : undefined },
  });
  const first = await app.request("/check", jsonRequest({ key: "vip", limit: 50 }));
  assert.equal((await first.json()).limit, 1);
  const second = await app.request("/check", jsonRequest({ key: "vip", limit: 50 }));
  assert.equal(second.status, 429);
});

const BAD_BODIES: [string, RequestInit, number, string][] = [
  ["bad JSON", jsonRequest("{not json"), 400, "invalid_json"],
  ["a JSON array", jsonRequest([]), 400, "invalid_request"],
  ["no key", jsonRequest({ limit: 5 }), 400, "invalid_request"],
  ["an empty key", jsonRequest({ key: "" }), 400, "invalid_request"],
  ["a numeric key", jsonRequest({ key: 5 }), 400, "invalid_request"],
  ["a 513-byte key", jsonRequest({ key: "x".repeat(513) }), 400, "invalid_request"],
  [
    "a 512-byte multibyte key over 512 bytes",
    jsonRequest({ key: "é".repeat(257) }),
    400,
    "invalid_request",
  ],
  ["a key with NUL", jsonRequest({ key: "a\u0000b" }), 400, "invalid_request"],
  ["a key with a lone surrogate", jsonRequest('{"key":"a\\ud800"}'), 400, "invalid_request"],
  ["limit 0", jsonRequest({ key: "k", limit: 0 }), 400, "invalid_request"],
  ["limit past 1,000,000", jsonRequest({ key: "k", limit: 1_000_001 }), 400, "invalid_request"],
  ["a fractional limit", jsonRequest({ key: "k", limit: 1.5 }), 400, "invalid_request"],
  ["a string limit", jsonRequest({ key: "k", limit: "5" }), 400, "invalid_request"],
  ["a negative window", jsonRequest({ key: "k", window_ms: -1 }), 400, "invalid_request"],
  [
    "a window past 30 days",
    jsonRequest({ key: "k", window_ms: 2_592_000_001 }),
    400,
    "invalid_request",
  ],
  [
    "an unsafe integer",
    jsonRequest('{"key":"k","limit":9007199254740993}'),
    400,
    "invalid_request",
  ],
  ["an unknown field", jsonRequest({ key: "k", windowMs: 5 }), 400, "invalid_request"],
  [
    "a text/plain body",
    { method: "POST", headers: { "content-type": "text/plain" }, body: '{"key":"k"}' },
    415,
    "unsupported_media_type",
  ],
  ["no content type", { method: "POST", body: '{"key":"k"}' }, 415, "unsupported_media_type"],
  [
    "a body over 64 KiB",
    jsonRequest({ key: "k", pad: "x".repeat(70_000) }),
    413,
    "payload_too_large",
  ],
  [
    "invalid UTF-8",
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new Uint8Array([0x7b, 0x22, 0x6b, 0x65, 0x79, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
    },
    400,
    "invalid_utf8",
  ],
];

Deno.test("POST /check rejects bad input with a JSON error and touches no counter", async (t) => {
  const { app, store } = makeTestApp();
  for (const [name, init, status, code] of BAD_BODIES) {
    await t.step(name, async () => {
      const res = await app.request("/check", init);
      assert.equal(res.status, status);
      const body = await res.json();
      assert.equal(body.error.code, code);
      assert.equal(typeof body.error.message, "string");
    });
  }
  assert.equal(await store.countCounters(), 0);
});

Deno.test("POST /check lists every validation issue in details", async () => {
  const { app } = makeTestApp();
  const res = await app.request("/check", jsonRequest({ key: "", limit: -1, window_ms: "x" }));
  const body = await res.json();
  assert.equal(res.status, 400);
  assert.deepEqual(body.error.details.map((d: { path: string }) => d.path).sort(), [
    "key",
    "limit",
    "window_ms",
  ]);
});

Deno.test("unknown routes get 404 and wrong methods 405 with Allow", async () => {
  const { app } = makeTestApp();
  const missing = await app.request("/nope");
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, "not_found");
  const wrong = await app.request("/check", { method: "GET" });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("Allow"), "POST");
  assert.equal((await wrong.json()).error.code, "method_not_allowed");
});

Deno.test("POST /check, its multi-limit items and batch items read null as absent", async () => {
  const { app } = makeTestApp({
    env: { RATELIMITER_DEFAULT_LIMIT: "2", RATELIMITER_DEFAULT_WINDOW_MS: "5000" },
  });
  const single = await app.request(
    "/check",
    jsonRequest({ key: "n", limit: null, window_ms: null, algorithm: null, cost: null }),
  );
  assert.equal(single.status, 200);
  const answer = await single.json();
  assert.deepEqual([answer.limit, answer.window_ms, answer.algorithm], [2, 5000, "sliding_log"]);
  const multi = await app.request(
    "/check",
    jsonRequest({ key: null, limits: [{ key: "m", limit: 3, window_ms: null, burst: null }] }),
  );
  assert.equal(multi.status, 200);
  assert.equal((await multi.json()).limits[0].window_ms, 5000);
  const batch = await app.request(
    "/check/batch",
    jsonRequest({ checks: [{ key: "b", limit: null, cost: null }, { key: "b", window_ms: null }] }),
  );
  assert.equal(batch.status, 200);
  const results = (await batch.json()).results;
  assert.deepEqual(results.map((r: { current_count: number }) => r.current_count), [1, 2]);
  assert.equal(
    (await app.request("/check", jsonRequest({ key: null, limit: 1 }))).status,
    400,
    "null as the key is no key",
  );
});
