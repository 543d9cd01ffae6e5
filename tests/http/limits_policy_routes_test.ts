/**
 * The limits policy on every route that takes a client's limits: `POST /check` (the fast path and
 * the Hono route), multi-limit checks, `POST /check/batch` and `GET /check/{key}`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Override } from "../../src/limiter/resolve.ts";
import { ALGORITHMS } from "../../src/limiter/types.ts";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";
import { Rng } from "../_helpers/random.ts";

/** Issue 9, item 1: 64 bytes asking the sliding log for a million entries. */
const ATTACK = { key: "junk", limit: 1_000_000, cost: 1_000_000, window_ms: 1 };

async function expectViolation(
  res: Response,
  path: string,
  value: number,
  algorithm: string,
  max: number,
): Promise<void> {
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error.code, "policy_violation");
  assert.equal(
    body.error.message,
    `Not allowed by the limits policy: "${path}" is ${value}, above the maximum of ${max} ` +
      `for ${algorithm}`,
  );
  assert.deepEqual(body.error.details, [{
    path,
    field: path.split(".").at(-1),
    value,
    algorithm,
    max,
  }]);
}

Deno.test("POST /check refuses issue 9's sliding-log attack with 400 policy_violation, storing nothing", async () => {
  const { app, store } = makeTestApp();
  // `/check` exactly takes the app's fast path; with a query string it goes through Hono.
  for (const url of ["/check", "/check?via=hono"]) {
    await expectViolation(
      await app.request(url, jsonRequest(ATTACK)),
      "limit",
      1_000_000,
      "sliding_log",
      10_000,
    );
  }
  assert.equal(await store.countCounters(), 0);
});

Deno.test("POST /check refuses each field above the default sliding-log policy", async () => {
  const { app, store } = makeTestApp();
  const cases: [Record<string, unknown>, string, number, number][] = [
    [{ key: "k", limit: 10_001 }, "limit", 10_001, 10_000],
    [{ key: "k", window_ms: 86_400_001 }, "window_ms", 86_400_001, 86_400_000],
    [{ key: "k", limit: 10_000, cost: 10_001 }, "cost", 10_001, 10_000],
  ];
  for (const [body, field, value, max] of cases) {
    await expectViolation(
      await app.request("/check", jsonRequest(body)),
      field,
      value,
      "sliding_log",
      max,
    );
  }
  assert.equal(await store.countCounters(), 0);
  const edge = { key: "k", limit: 10_000, window_ms: 86_400_000, cost: 10_000 };
  assert.equal((await app.request("/check", jsonRequest(edge))).status, 200);
});

Deno.test("POST /check allows the O(1) algorithms up to the hard bounds by default", async () => {
  const { app } = makeTestApp();
  for (const algorithm of ["sliding_window", "fixed_window", "token_bucket", "gcra"]) {
    const body = { key: algorithm, algorithm, limit: 1_000_000, window_ms: 2_592_000_000 };
    const res = await app.request("/check", jsonRequest({ ...body, cost: 1_000_000 }));
    assert.equal(res.status, 200, algorithm);
  }
});

Deno.test("POST /check applies the configured policy per algorithm, burst and refill_rate included", async () => {
  const { app } = makeTestApp({
    env: {
      RATELIMITER_MAX_LIMIT: "1000,gcra=50",
      RATELIMITER_MAX_WINDOW_MS: "60000",
      RATELIMITER_MAX_COST: "10",
    },
  });
  const gcra = { key: "g", algorithm: "gcra", limit: 50 };
  await expectViolation(
    await app.request("/check", jsonRequest({ ...gcra, burst: 51 })),
    "burst",
    51,
    "gcra",
    50,
  );
  assert.equal((await app.request("/check", jsonRequest({ ...gcra, burst: 50 }))).status, 200);
  await expectViolation(
    await app.request(
      "/check",
      jsonRequest({ key: "t", algorithm: "token_bucket", refill_rate: 1001 }),
    ),
    "refill_rate",
    1001,
    "token_bucket",
    1000,
  );
  await expectViolation(
    await app.request("/check", jsonRequest({ key: "f", algorithm: "fixed_window", cost: 11 })),
    "cost",
    11,
    "fixed_window",
    10,
  );
});

Deno.test("POST /check lets an override and the defaults exceed the policy", async () => {
  const vip: Override = { limit: 50_000, windowMs: 2 * 86_400_000 };
  const { app } = makeTestApp({
    env: { RATELIMITER_DEFAULT_LIMIT: "20000" },
    overrides: { get: (key) => key === "vip" ? vip : undefined },
  });
  // The default limit 20,000 is the operator's: allowed though above sliding_log's 10,000.
  const plain = await (await app.request("/check", jsonRequest({ key: "plain" }))).json();
  assert.equal(plain.limit, 20_000);
  // The override decides the limit and window; the request's own values are ignored.
  const res = await app.request("/check", jsonRequest({ key: "vip", limit: 1_000_000 }));
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.limit, 50_000);
  assert.equal(body.window_ms, 2 * 86_400_000);
  // The cost is always the client's.
  await expectViolation(
    await app.request("/check", jsonRequest({ key: "vip", cost: 10_001 })),
    "cost",
    10_001,
    "sliding_log",
    10_000,
  );
});

Deno.test("POST /check with limits refuses the check when one limit is above the policy, consuming none", async () => {
  const { app } = makeTestApp();
  const res = await app.request(
    "/check",
    jsonRequest({
      limits: [
        { key: "{t}:a", limit: 5 },
        { key: "{t}:b", limit: 5, window_ms: 2 * 86_400_000 },
      ],
    }),
  );
  await expectViolation(res, "limits.1.window_ms", 2 * 86_400_000, "sliding_log", 86_400_000);
  const peek = await (await app.request("/check/%7Bt%7D%3Aa?limit=5")).json();
  assert.equal(peek.current_count, 0);
});

Deno.test("POST /check/batch refuses the batch naming the item, consuming nothing for any item", async () => {
  const { app, store } = makeTestApp();
  const checks = [
    { key: "a", limit: 5 },
    { key: "b", limit: 5 },
    { key: "c", limit: 5, cost: 10_001 },
    { limits: [{ key: "d", limit: 5 }, { key: "e", limit: 20_000 }] },
  ];
  await expectViolation(
    await app.request("/check/batch", jsonRequest({ checks })),
    "checks.2.cost",
    10_001,
    "sliding_log",
    10_000,
  );
  await expectViolation(
    await app.request("/check/batch", jsonRequest({ checks: [checks[0], checks[3]] })),
    "checks.1.limits.1.limit",
    20_000,
    "sliding_log",
    10_000,
  );
  assert.equal(await store.countCounters(), 0);
});

Deno.test("GET /check/{key} refuses a peek above the policy", async () => {
  const { app } = makeTestApp();
  await expectViolation(
    await app.request("/check/k?window_ms=2592000000"),
    "window_ms",
    2_592_000_000,
    "sliding_log",
    86_400_000,
  );
  await expectViolation(
    await app.request("/check/k?limit=1000000&algorithm=sliding_log"),
    "limit",
    1_000_000,
    "sliding_log",
    10_000,
  );
  assert.equal((await app.request("/check/k?limit=1000000&algorithm=gcra")).status, 200);
});

Deno.test("fuzz: seeded valid checks around the policy's edges are refused exactly when a value is above it", async () => {
  const rng = new Rng(Number(Deno.env.get("FUZZ_SEED") ?? 0x5eed_2026));
  const { app } = makeTestApp();
  const limits = [1, 10_000, 10_001, 999_999, 1_000_000];
  const windows = [1, 86_400_000, 86_400_001, 2_592_000_000];
  const algorithms = [undefined, ...ALGORITHMS];
  let refused = 0;
  for (let n = 0; n < 400; n++) {
    const algorithm = rng.pick(algorithms);
    const body: Record<string, unknown> = { key: `k${n}` };
    if (algorithm !== undefined) body.algorithm = algorithm;
    if (rng.chance(0.6)) body.limit = rng.pick(limits);
    if (rng.chance(0.6)) body.window_ms = rng.pick(windows);
    if (rng.chance(0.6)) body.cost = rng.pick([0, ...limits]);
    if (algorithm === "gcra" && rng.chance(0.5)) body.burst = rng.pick(limits);
    if (algorithm === "token_bucket" && rng.chance(0.5)) body.refill_rate = rng.pick(limits);
    // The oracle: only sliding_log (also the default algorithm) is bounded below the hard bounds.
    const log = (algorithm ?? "sliding_log") === "sliding_log";
    const over = log &&
      ((body.limit as number ?? 0) > 10_000 || (body.window_ms as number ?? 0) > 86_400_000 ||
        (body.cost as number ?? 0) > 10_000);
    const res = await app.request("/check", jsonRequest(body));
    const answer = await res.json();
    const where = `case ${n}: ${JSON.stringify(body)} -> ${res.status} ${JSON.stringify(answer)}`;
    if (over) {
      refused++;
      assert.equal(res.status, 400, where);
      assert.equal(answer.error.code, "policy_violation", where);
    } else {
      assert.ok(res.status === 200 || res.status === 429, where);
    }
  }
  assert.ok(refused > 20, `${refused} refused`);
});
