/**
 * `createApp` answers the exact `POST /check` on a fast path outside Hono, and any other request
 * (including `POST /check?...`) through Hono's middlewares and route. These tests send the same
 * requests both ways (`/check` and `/check?`, whose empty query string keeps it off the fast path)
 * and assert identical answers, headers and metrics.
 */
import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../src/errors.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/types.ts";
import { isExactCheckUrl } from "../../src/http/check_fast_path.ts";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";

const JSON_TYPE = { "content-type": "application/json" };

const MULTI = { limits: [{ key: "{t}:a", limit: 1 }, { key: "{t}:b", limit: 2 }] };

/** Requests sent in order to one app; the limit of 2 makes the third check of "k" a 429. */
const SEQUENCE: { name: string; init: RequestInit }[] = [
  { name: "allowed", init: jsonRequest({ key: "k", limit: 2, window_ms: 60_000 }) },
  { name: "allowed again", init: jsonRequest({ key: "k", limit: 2, window_ms: 60_000 }) },
  { name: "blocked", init: jsonRequest({ key: "k", limit: 2, window_ms: 60_000 }) },
  { name: "gcra", init: jsonRequest({ key: "g", algorithm: "gcra", limit: 5 }) },
  {
    name: "null as absent",
    init: jsonRequest({ key: "n", limit: 2, window_ms: null, algorithm: null, cost: null }),
  },
  { name: "several limits", init: jsonRequest(MULTI) },
  { name: "several limits, one denying", init: jsonRequest(MULTI) },
  { name: "wrong content type", init: { method: "POST", body: '{"key":"k"}' } },
  {
    name: "declared body over 64 KiB",
    init: { method: "POST", headers: { ...JSON_TYPE, "content-length": "70000" } },
  },
  {
    name: "declared body over 64 KiB, wrong type (the size is checked first)",
    init: { method: "POST", headers: { "content-length": "70000" } },
  },
  { name: "invalid JSON", init: jsonRequest("{") },
  {
    name: "invalid UTF-8",
    init: { method: "POST", headers: JSON_TYPE, body: new Uint8Array([0x7b, 0xff, 0x7d]) },
  },
  { name: "invalid key", init: jsonRequest({ key: "" }) },
  { name: "invalid limit", init: jsonRequest({ key: "k", limit: -1, cost: "x" }) },
  { name: "empty body", init: { method: "POST", headers: JSON_TYPE } },
];

/** A memory store whose `check` fails as the given mode says. */
function storeFailing(mode: "no" | "unavailable" | "crash"): Store {
  // A fixed clock: both paths must give byte-identical answers, reset times included.
  const inner = new MemoryStore({ sweepIntervalMs: 0, clock: () => 1_000_000 });
  if (mode === "no") return inner;
  const store = Object.create(inner) as Store;
  store.check = () =>
    Promise.reject(
      mode === "unavailable" ? new StoreUnavailableError("Redis did not answer") : new Error("bug"),
    );
  return store;
}

/** Status, headers and body of every answer, plus the counted metrics, for one path. */
async function run(path: string, mode: "no" | "unavailable" | "crash") {
  const { app } = makeTestApp({ store: storeFailing(mode) });
  const answers = [];
  for (const { name, init } of SEQUENCE) {
    const res = await app.request(path, init);
    answers.push({
      name,
      status: res.status,
      headers: [...res.headers].sort(),
      body: await res.text(),
    });
  }
  const text = await (await app.request("/metrics")).text();
  const counted = text.split("\n").filter((line) =>
    /^(http_requests_total|ratelimiter_requests_checked_total|ratelimiter_store_errors_total)\{/
      .test(line) || /_count\{/.test(line)
  );
  return { answers, counted };
}

Deno.test("POST /check answers the same on the fast path and through Hono", async (t) => {
  for (const mode of ["no", "unavailable", "crash"] as const) {
    await t.step(`store failure: ${mode}`, async () => {
      const fast = await run("/check", mode);
      const hono = await run("/check?", mode);
      assert.deepEqual(fast.answers, hono.answers);
      assert.deepEqual(fast.counted, hono.counted);
      // With a trailing slash (served as the same route), on the fast path and through Hono.
      const slash = await run("/check/", mode);
      assert.deepEqual(slash.answers, fast.answers);
      assert.deepEqual(slash.counted, fast.counted);
      assert.deepEqual((await run("/check/?", mode)).answers, fast.answers);
      const statuses = fast.answers.map((a) => a.status);
      const invalid = [415, 413, 413, 400, 400, 400, 400, 400];
      const decided = mode === "no" ? [200, 200, 429, 200, 200, 200, 429] : [
        ...Array(7).fill(mode === "unavailable" ? 503 : 500),
      ];
      assert.deepEqual(statuses, [...decided, ...invalid]);
      // Every answer was counted under the route pattern, fast path included.
      const counted = fast.counted.filter((l) => l.startsWith('http_requests_total{method="POST"'));
      assert.equal(
        counted.reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0),
        SEQUENCE.length,
      );
      for (const line of counted) assert.match(line, /route="\/check"/);
    });
  }
});

Deno.test("POST /check with a query string still goes through the request limits", async () => {
  const { app } = makeTestApp();
  const res = await app.request("/check?q=%C3%28", jsonRequest({ key: "k" }));
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.code, "invalid_query");
  const long = await app.request(`/check?q=${"x".repeat(3000)}`, jsonRequest({ key: "k" }));
  assert.equal(long.status, 414);
});

Deno.test("isExactCheckUrl() takes /check and /check/ without a query, nothing else", () => {
  for (const url of ["http://h/check", "http://h:8000/check/"]) {
    assert.ok(isExactCheckUrl(url), url);
  }
  for (
    const url of ["http://h/check?", "http://h/check/?", "http://h/a/check", "http://h/check//"]
  ) {
    assert.ok(!isExactCheckUrl(url), url);
  }
  assert.ok(!isExactCheckUrl("http://h/check/batch"));
  assert.ok(!isExactCheckUrl("http://h/x/check/"));
});
