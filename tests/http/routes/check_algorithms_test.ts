import assert from "node:assert/strict";
import { createManualClock } from "../../_helpers/manual_clock.ts";
import { ALGORITHMS } from "../../../src/limiter/types.ts";
import { MemoryStore } from "../../../src/store/memory_store.ts";
import { jsonRequest, makeTestApp } from "../../_helpers/app.ts";
import { equivalenceChecks } from "../../_helpers/checks.ts";

async function post(app: ReturnType<typeof makeTestApp>["app"], path: string, body: unknown) {
  const res = await app.request(path, jsonRequest(body));
  return { status: res.status, headers: res.headers, body: await res.json() };
}

Deno.test("POST /check decides with the algorithm the request names", async (t) => {
  const { app } = makeTestApp();
  for (const algorithm of ALGORITHMS) {
    await t.step(algorithm, async () => {
      const check = { key: `alg-${algorithm}`, limit: 2, window_ms: 60_000, algorithm };
      for (let i = 1; i <= 2; i++) {
        const res = await post(app, "/check", check);
        assert.equal(res.status, 200);
        assert.equal(res.body.algorithm, algorithm);
        assert.equal(res.body.current_count, i);
        assert.equal(res.body.remaining, 2 - i);
      }
      const denied = await post(app, "/check", check);
      assert.equal(denied.status, 429);
      assert.equal(denied.body.current_count, 2);
      assert.ok(denied.body.retry_after_ms > 0);
      assert.equal(denied.headers.get("Retry-After"), String(denied.body.retry_after_seconds));
    });
  }
});

Deno.test("POST /check reports burst for gcra and refill_rate for token_bucket", async () => {
  const { app } = makeTestApp();
  const gcra = await post(app, "/check", { key: "g", limit: 10, algorithm: "gcra", burst: 3 });
  assert.equal(gcra.body.burst, 3);
  assert.equal(gcra.body.remaining, 2);
  assert.equal(gcra.body.refill_rate, undefined);
  const gcraDefault = await post(app, "/check", { key: "g2", limit: 10, algorithm: "gcra" });
  assert.equal(gcraDefault.body.burst, 10);
  const tb = await post(app, "/check", {
    key: "t",
    limit: 10,
    algorithm: "token_bucket",
    refill_rate: 4,
  });
  assert.equal(tb.body.refill_rate, 4);
  assert.equal(tb.body.burst, undefined);
  const sl = await post(app, "/check", { key: "s", limit: 10 });
  assert.equal("burst" in sl.body || "refill_rate" in sl.body, false);
});

Deno.test("RATELIMITER_DEFAULT_ALGORITHM applies when the request names none", async () => {
  const { app } = makeTestApp({ env: { RATELIMITER_DEFAULT_ALGORITHM: "fixed_window" } });
  const res = await post(app, "/check", { key: "d", limit: 1 });
  assert.equal(res.body.algorithm, "fixed_window");
});

Deno.test("an override fixes the algorithm and burst; the client keeps only the cost", async () => {
  const { app } = makeTestApp({
    overrides: {
      get: (key) =>
        key === "vip" ? { limit: 2, windowMs: 60_000, algorithm: "gcra", burst: 1 } : undefined,
    },
  });
  const first = await post(app, "/check", {
    key: "vip",
    limit: 100,
    algorithm: "token_bucket",
    refill_rate: 100,
  });
  assert.equal(first.status, 200);
  assert.equal(first.body.algorithm, "gcra");
  assert.equal(first.body.limit, 2);
  assert.equal(first.body.burst, 1);
  assert.equal(first.body.refill_rate, undefined);
  // Switching algorithm cannot reach a fresh counter: the override decides it.
  const second = await post(app, "/check", { key: "vip", algorithm: "sliding_log" });
  assert.equal(second.status, 429);
  assert.equal(second.body.algorithm, "gcra");
});

Deno.test("POST /check cost: several units at once; a cost that does not fit consumes nothing", async () => {
  const { app } = makeTestApp();
  const check = (cost: number) => post(app, "/check", { key: "c", limit: 5, cost });
  const a = await check(3);
  assert.deepEqual([a.status, a.body.current_count, a.body.remaining], [200, 3, 2]);
  const b = await check(3);
  assert.deepEqual([b.status, b.body.current_count, b.body.remaining], [429, 3, 2]);
  const c = await check(2);
  assert.deepEqual([c.status, c.body.current_count, c.body.remaining], [200, 5, 0]);
  const d = await check(6);
  assert.deepEqual([d.status, d.body.retry_after_ms], [429, 60_000]);
});

Deno.test("cost 0 and GET /check/{key} peek without consuming", async () => {
  const { app, store } = makeTestApp();
  const peek = await post(app, "/check", { key: "p", limit: 1, cost: 0 });
  assert.deepEqual([peek.status, peek.body.current_count, peek.body.remaining], [200, 0, 1]);
  const fresh = await app.request("/check/p?limit=1");
  assert.equal(fresh.status, 200);
  assert.equal((await fresh.json()).current_count, 0);
  assert.equal(await store.countCounters(), 0);
  assert.equal((await post(app, "/check", { key: "p", limit: 1 })).status, 200);
  for (let i = 0; i < 3; i++) {
    const res = await app.request("/check/p?limit=1");
    assert.equal(res.status, 429);
    const body = await res.json();
    assert.equal(body.current_count, 1);
    assert.equal(body.remaining, 0);
    assert.equal(res.headers.get("Retry-After"), String(body.retry_after_seconds));
  }
  const state = await post(app, "/check", { key: "p", limit: 1, cost: 0 });
  assert.deepEqual([state.status, state.body.current_count], [429, 1]);
  assert.equal(await store.countCounters(), 1);
});

Deno.test("GET /check/{key} decodes the key and takes limit, window and algorithm", async () => {
  const { app } = makeTestApp();
  await post(app, "/check", { key: "{t}:a/b c", limit: 4, algorithm: "gcra", burst: 2 });
  const res = await app.request("/check/%7Bt%7D%3Aa%2Fb%20c?limit=4&algorithm=gcra&burst=2");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.key, "{t}:a/b c");
  assert.equal(body.algorithm, "gcra");
  assert.equal(body.current_count, 1);
  assert.equal(body.remaining, 1);
  // An unencoded slash is part of the key too.
  const slash = await app.request("/check/a/b?window_ms=5000");
  assert.equal((await slash.json()).key, "a/b");
});

Deno.test("a multi-limit check consumes all limits or none and names the denying one", async () => {
  const { app } = makeTestApp();
  const body = {
    limits: [
      { key: "{t42}:user", limit: 3, window_ms: 60_000 },
      { key: "{t42}:ip", limit: 1, window_ms: 10_000, algorithm: "fixed_window" },
    ],
  };
  const ok = await post(app, "/check", body);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.allowed, true);
  assert.equal(ok.body.key, "{t42}:user");
  assert.equal(ok.body.denied_index, null);
  assert.equal(ok.body.denied_key, null);
  assert.deepEqual(ok.body.limits.map((l: { current_count: number }) => l.current_count), [1, 1]);
  const denied = await post(app, "/check", body);
  assert.equal(denied.status, 429);
  assert.equal(denied.body.allowed, false);
  assert.equal(denied.body.denied_index, 1);
  assert.equal(denied.body.denied_key, "{t42}:ip");
  assert.equal(denied.body.key, "{t42}:ip");
  assert.equal(denied.headers.get("Retry-After"), String(denied.body.retry_after_seconds));
  const [user, ip] = denied.body.limits;
  assert.deepEqual([user.allowed, user.current_count, user.remaining], [true, 1, 2]);
  assert.deepEqual([ip.allowed, ip.current_count], [false, 1]);
  // The denied check consumed nothing of the user limit.
  const single = await post(app, "/check", { key: "{t42}:user", limit: 3, window_ms: 60_000 });
  assert.equal(single.body.current_count, 2);
});

Deno.test("a multi-limit check denied by several limits reports the longest retry", async () => {
  const { app } = makeTestApp();
  const body = {
    limits: [
      { key: "{u}:minute", limit: 1, window_ms: 60_000 },
      { key: "{u}:day", limit: 1, window_ms: 86_400_000 },
      { key: "{u}:second", limit: 1, window_ms: 1000 },
    ],
  };
  assert.equal((await post(app, "/check", body)).status, 200);
  const denied = await post(app, "/check", body);
  assert.equal(denied.status, 429);
  assert.equal(denied.body.denied_index, 1);
  assert.equal(denied.body.denied_key, "{u}:day");
  assert.ok(denied.body.retry_after_ms > 86_000_000);
  assert.equal(denied.headers.get("Retry-After"), String(denied.body.retry_after_seconds));
  assert.ok(Number(denied.headers.get("Retry-After")) > 86_000);
  assert.deepEqual(denied.body.limits.map((l: { allowed: boolean }) => l.allowed), [
    false,
    false,
    false,
  ]);
});

const BAD: [string, unknown, string][] = [
  ["an unknown algorithm", { key: "k", algorithm: "leaky_bucket" }, "algorithm"],
  ["a numeric algorithm", { key: "k", algorithm: 1 }, "algorithm"],
  ["a negative cost", { key: "k", cost: -1 }, "cost"],
  ["a fractional cost", { key: "k", cost: 0.5 }, "cost"],
  ["a cost past 1,000,000", { key: "k", cost: 1_000_001 }, "cost"],
  ["a string cost", { key: "k", cost: "1" }, "cost"],
  ["burst without gcra", { key: "k", burst: 5 }, "burst"],
  ["burst with another algorithm", { key: "k", algorithm: "fixed_window", burst: 5 }, "burst"],
  ["burst 0", { key: "k", algorithm: "gcra", burst: 0 }, "burst"],
  ["refill_rate with gcra", { key: "k", algorithm: "gcra", refill_rate: 5 }, "refill_rate"],
  ["refill_rate 0", { key: "k", algorithm: "token_bucket", refill_rate: 0 }, "refill_rate"],
  ["both key and limits", { key: "k", limits: [{ key: "k" }] }, ""],
  ["neither key nor limits", { limit: 5 }, ""],
  ["an empty limits array", { limits: [] }, "limits"],
  [
    "17 limits",
    { limits: Array.from({ length: 17 }, (_, i) => ({ key: `{t}${i}` })) },
    "limits",
  ],
  ["limits that is not an array", { limits: { key: "k" } }, "limits"],
  ["a limit item with an unknown field", { limits: [{ key: "k", foo: 1 }] }, "limits.0"],
  ["a limit item without key", { limits: [{ limit: 1 }] }, "limits.0.key"],
  ["a limit item with limit 0", { limits: [{ key: "k", limit: 0 }] }, "limits.0.limit"],
  ["a limit item with a bad cost", { limits: [{ key: "k", cost: -2 }] }, "limits.0.cost"],
  ["a top-level field beside limits", { limits: [{ key: "k" }], cost: 2 }, "cost"],
  [
    "a (key, algorithm) pair twice",
    { limits: [{ key: "{t}a" }, { key: "{t}b" }, { key: "{t}a", limit: 5 }] },
    "limits.2.key",
  ],
  [
    "keys on different slots",
    { limits: [{ key: "user:1" }, { key: "ip:10.0.0.1" }] },
    "limits.1.key",
  ],
  [
    "keys with different hash tags",
    { limits: [{ key: "{t1}:user" }, { key: "{t2}:user" }] },
    "limits.1.key",
  ],
];

Deno.test("POST /check rejects bad algorithms, costs and limits with a 400 naming the field", async (t) => {
  const { app, store } = makeTestApp();
  for (const [name, body, path] of BAD) {
    await t.step(name, async () => {
      const res = await post(app, "/check", body);
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, "invalid_request");
      const paths = res.body.error.details.map((d: { path: string }) => d.path);
      assert.ok(paths.includes(path), `paths ${JSON.stringify(paths)}`);
    });
  }
  assert.equal(await store.countCounters(), 0);
});

Deno.test("POST /check accepts one key under two algorithms and shared hash tags", async () => {
  const { app } = makeTestApp();
  const res = await post(app, "/check", {
    limits: [
      { key: "user:1", algorithm: "sliding_log" },
      { key: "user:1", algorithm: "gcra" },
      { key: "{user:1}:ip" },
    ],
  });
  assert.equal(res.status, 200);
  assert.equal(res.body.limits.length, 3);
});

Deno.test("a multi-limit pair repeated after an override forces its algorithm is a 400", async () => {
  const { app, store } = makeTestApp({
    overrides: {
      get: (key) => key === "{t}a" ? { limit: 5, windowMs: 1000, algorithm: "gcra" } : undefined,
    },
  });
  const res = await post(app, "/check", {
    limits: [{ key: "{t}a", algorithm: "gcra" }, { key: "{t}a", algorithm: "fixed_window" }],
  });
  assert.equal(res.status, 400);
  assert.equal(res.body.error.details[0].path, "limits.1.key");
  assert.equal(await store.countCounters(), 0);
});

Deno.test("GET /check/{key} rejects a bad key or query with a 400 and changes nothing", async (t) => {
  const { app, store } = makeTestApp();
  const cases: [string, string, string?][] = [
    ["/check/k?limit=abc", "limit"],
    ["/check/k?limit=0", "limit"],
    ["/check/k?limit=1.5", "limit"],
    ["/check/k?limit=-1", "limit"],
    ["/check/k?window_ms=2592000001", "window_ms"],
    ["/check/k?algorithm=nope", "algorithm"],
    ["/check/k?limit=0&utm_source=x", "limit"],
    ["/check/k?burst=2", "burst"],
    ["/check/k?limit=1&limit=2", ""],
    ["/check/%E0%A4%A", "", "invalid_path"],
    ["/check/%ED%A0%80", "", "invalid_path"],
    [`/check/${"x".repeat(513)}`, "key"],
    ["/check/a%00b", "", "invalid_path"],
  ];
  for (const [url, path, code] of cases) {
    await t.step(url.slice(0, 60), async () => {
      const res = await app.request(url);
      assert.equal(res.status, 400);
      const body = await res.json();
      // Malformed escapes and NUL in the path are refused by the request-limits middleware.
      assert.equal(body.error.code, code ?? "invalid_request");
      if (path !== "") {
        assert.ok(body.error.details.some((d: { path: string }) => d.path === path));
      }
    });
  }
  assert.equal(await store.countCounters(), 0);
});

Deno.test("GET /check/{key} ignores unknown query parameters (changed by issue 11)", async () => {
  // `cost` (not a peek parameter) and any other unknown one used to be a 400; now they are left
  // out, so a peek stays a peek whatever the query says.
  const { app, store } = makeTestApp();
  const res = await app.request("/check/k?limit=1&cost=5&_=123&_=124");
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual([body.limit, body.current_count, body.remaining], [1, 0, 1]);
  assert.equal(await store.countCounters(), 0);
});

Deno.test("POST /check/batch answers each check independently with its own status", async () => {
  const { app } = makeTestApp();
  const res = await post(app, "/check/batch", {
    checks: [
      { key: "b1", limit: 1 },
      { key: "b1", limit: 1 },
      { key: "b2", limit: 1, cost: 0 },
      { limits: [{ key: "{b}:x", limit: 1 }, { key: "{b}:y", limit: 1, algorithm: "gcra" }] },
      { limits: [{ key: "{b}:x", limit: 1 }, { key: "{b}:y", limit: 1, algorithm: "gcra" }] },
    ],
  });
  assert.equal(res.status, 200);
  const statuses = res.body.results.map((r: { status: number }) => r.status);
  assert.deepEqual(statuses, [200, 429, 200, 200, 429]);
  assert.equal(res.body.results[1].current_count, 1);
  assert.equal(res.body.results[2].current_count, 0);
  assert.equal(res.body.results[4].denied_index, 0);
  assert.equal(res.body.results[4].limits.length, 2);
  assert.equal(res.headers.get("Retry-After"), null);
});

Deno.test("POST /check/batch rejects a bad batch as a whole with the item's index", async (t) => {
  const { app, store } = makeTestApp();
  const item = { key: "k", limit: 1 };
  const cases: [string, unknown, string][] = [
    ["no checks", { checks: [] }, "checks"],
    ["1,001 checks", { checks: Array.from({ length: 1001 }, () => item) }, "checks"],
    ["checks missing", {}, "checks"],
    ["an unknown field", { checks: [item], x: 1 }, ""],
    ["a bad item", { checks: [item, item, item, { key: "k", limit: 0 }] }, "checks.3.limit"],
    [
      "an item with an unknown algorithm",
      { checks: [item, { key: "k", algorithm: "x" }] },
      "checks.1.algorithm",
    ],
    [
      "an item mixing slots",
      { checks: [item, { limits: [{ key: "a" }, { key: "b" }] }] },
      "checks.1.limits.1.key",
    ],
  ];
  for (const [name, body, path] of cases) {
    await t.step(name, async () => {
      const res = await post(app, "/check/batch", body);
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, "invalid_request");
      const paths = res.body.error.details.map((d: { path: string }) => d.path);
      assert.ok(paths.includes(path), `paths ${JSON.stringify(paths)}`);
      if (path.startsWith("checks.")) assert.match(res.body.error.message, new RegExp(path));
    });
  }
  assert.equal(await store.countCounters(), 0);
});

Deno.test("POST /check/batch takes 1,000 checks in a body over the 64 KiB of POST /check", async () => {
  const { app, store } = makeTestApp();
  const checks = Array.from(
    { length: 1000 },
    (_, i) => ({ key: `batch-key-${"x".repeat(90)}-${i}` }),
  );
  assert.ok(JSON.stringify({ checks }).length > 64 * 1024);
  const res = await post(app, "/check/batch", { checks });
  assert.equal(res.status, 200);
  assert.equal(res.body.results.length, 1000);
  assert.equal(await store.countCounters(), 1000);
});

Deno.test("POST /check/batch answers as the same checks one by one would", async () => {
  const clock = createManualClock();
  const batched = makeTestApp({ store: new MemoryStore({ clock, sweepIntervalMs: 0 }) });
  const single = makeTestApp({ store: new MemoryStore({ clock, sweepIntervalMs: 0 }) });
  const checks = equivalenceChecks(120);
  const res = await post(batched.app, "/check/batch", { checks });
  assert.equal(res.status, 200);
  const oneByOne = [];
  for (const check of checks) {
    const r = await post(single.app, "/check", check);
    oneByOne.push({ status: r.status, ...r.body });
  }
  assert.deepEqual(res.body.results, oneByOne);
  assert.ok(oneByOne.some((r) => r.status === 429) && oneByOne.some((r) => r.status === 200));
});

Deno.test("batch items count one by one in ratelimiter_requests_checked_total", async () => {
  const { app } = makeTestApp({ env: { RATELIMITER_NODE_ID: "n" } });
  await post(app, "/check/batch", {
    checks: [{ key: "m", limit: 1 }, { key: "m", limit: 1 }, { key: "m", limit: 1 }],
  });
  const text = await (await app.request("/metrics")).text();
  assert.match(text, /ratelimiter_requests_checked_total\{result="allowed",node_id="n"\} 1\n/);
  assert.match(text, /ratelimiter_requests_checked_total\{result="blocked",node_id="n"\} 2\n/);
  assert.match(text, /http_requests_total\{method="POST",route="\/check\/batch",status="200"/);
});

Deno.test("POST /check/batch takes a declared body past 64 KiB up to its own 1 MiB cap", async () => {
  const { app } = makeTestApp();
  const checks = Array.from(
    { length: 1000 },
    (_, i) => ({ key: `batch-key-${i}-${"x".repeat(80)}` }),
  );
  const body = JSON.stringify({ checks });
  assert.ok(body.length > 64 * 1024);
  const res = await app.request("/check/batch", {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": String(body.length) },
    body,
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal((await res.json()).results.length, 1000);
});
