import assert from "node:assert/strict";
import { parseConfig } from "../../../src/config.ts";
import { createRateLimitService } from "../../../src/envoy/service.ts";
import { createApp } from "../../../src/http/app.ts";
import { noOverrides } from "../../../src/limiter/resolve.ts";
import { silentLogger } from "../../../src/log.ts";
import { createMetrics } from "../../../src/metrics/metrics.ts";
import { parseRules } from "../../../src/rules/parse_rules.ts";
import { MemoryStore } from "../../../src/store/memory_store.ts";
import { jsonRequest } from "../../_helpers/app.ts";

const RULES = parseRules([{
  name: "rules.yaml",
  text: `
domain: edge
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 2, name: per_user }
`,
}]);

function makeApp(rateLimitHeaders = false) {
  const config = parseConfig({}, { hostname: "test" });
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  const metrics = createMetrics({ nodeId: "test", defaultMetrics: false });
  const rls = createRateLimitService({
    store,
    rules: () => RULES,
    overrides: noOverrides,
    metrics,
    rateLimitHeaders,
  });
  return { app: createApp({ config, store, metrics, logger: silentLogger, rls }), metrics };
}

const body = (value: string, extra: Record<string, unknown> = {}) => ({
  domain: "edge",
  descriptors: [{ entries: [{ key: "user", value }] }],
  ...extra,
});

Deno.test("POST /json answers 200 under the limit and 429 OVER_LIMIT, in proto3 JSON", async () => {
  const { app } = makeApp();
  const first = await app.request("/json", jsonRequest(body("alice")));
  assert.equal(first.status, 200);
  const answer = await first.json();
  assert.equal(answer.overallCode, "OK");
  assert.equal(answer.statuses.length, 1);
  const status = answer.statuses[0];
  assert.equal(status.code, "OK");
  assert.deepEqual(status.currentLimit, { requestsPerUnit: 2, unit: "MINUTE", name: "per_user" });
  assert.equal(status.limitRemaining, 1);
  assert.match(status.durationUntilReset, /^\d+s$/);
  assert.equal((await app.request("/json", jsonRequest(body("alice")))).status, 200);
  const over = await app.request("/json", jsonRequest(body("alice")));
  assert.equal(over.status, 429);
  const overAnswer = await over.json();
  assert.equal(overAnswer.overallCode, "OVER_LIMIT");
  assert.equal(overAnswer.statuses[0].code, "OVER_LIMIT");
  assert.equal(overAnswer.statuses[0].limitRemaining, 0);
});

Deno.test("POST /json takes lowerCamelCase names, uint64 as strings and units by name", async () => {
  const { app } = makeApp();
  const res = await app.request(
    "/json",
    jsonRequest({
      domain: "edge",
      hitsAddend: 1,
      descriptors: [
        { entries: [{ key: "user", value: "bob" }], hitsAddend: "2" },
        { entries: [{ key: "user", value: "carol" }], limit: { requestsPerUnit: 9, unit: "HOUR" } },
        { entries: [{ key: "other", value: "x" }] },
      ],
    }),
  );
  assert.equal(res.status, 200);
  const answer = await res.json();
  assert.equal(answer.statuses[0].limitRemaining, 0);
  assert.deepEqual(answer.statuses[1].currentLimit, { requestsPerUnit: 9, unit: "HOUR" });
  assert.equal(answer.statuses[1].limitRemaining, 8);
  assert.deepEqual(answer.statuses[2], { code: "OK", limitRemaining: 0 });
});

Deno.test("POST /json answers 400 invalid_request for what the protocol refuses", async () => {
  const { app } = makeApp();
  const cases: unknown[] = [
    "not json",
    [],
    { domain: "", descriptors: [{ entries: [{ key: "user", value: "a" }] }] },
    { domain: "edge", descriptors: [] },
    { domain: "edge" },
    { domain: 7, descriptors: [{ entries: [] }] },
    {
      domain: "edge",
      descriptors: [{ entries: [{ key: "user", value: "a" }], limit: { unit: "FORTNIGHT" } }],
    },
    { domain: "edge", descriptors: [{ entries: [{ key: "user", value: "a" }], hits_addend: -1 }] },
    { domain: "edge", descriptors: Array.from({ length: 65 }, () => ({ entries: [] })) },
  ];
  for (const input of cases) {
    const res = await app.request("/json", jsonRequest(input));
    assert.equal(res.status, 400, JSON.stringify(input));
    const error = (await res.json()).error;
    assert.ok(
      error.code === "invalid_request" || error.code === "invalid_json",
      JSON.stringify(error),
    );
  }
  // Nothing was counted by the refused requests.
  const res = await app.request("/json", jsonRequest(body("a")));
  assert.equal((await res.json()).statuses[0].limitRemaining, 1);
});

Deno.test("POST /json adds draft-10 RateLimit headers to responseHeadersToAdd when enabled", async () => {
  const { app } = makeApp(true);
  const res = await app.request("/json", jsonRequest(body("dave")));
  const headers = (await res.json()).responseHeadersToAdd;
  assert.equal(headers.length, 2);
  assert.deepEqual(headers[0], { key: "RateLimit-Policy", value: '"per_user";q=2;w=60' });
  assert.equal(headers[1].key, "RateLimit");
  assert.match(headers[1].value, /^"per_user";r=1;t=\d+$/);
});

Deno.test("POST /json counts decisions per domain, rule and result", async () => {
  const { app, metrics } = makeApp();
  for (let i = 0; i < 3; i++) await app.request("/json", jsonRequest(body("erin")));
  const text = await metrics.render();
  assert.match(
    text,
    /ratelimiter_rls_decisions_total\{[^}]*domain="edge",rule="per_user",result="ok"[^}]*\} 2/,
  );
  assert.match(
    text,
    /ratelimiter_rls_decisions_total\{[^}]*domain="edge",rule="per_user",result="over_limit"[^}]*\} 1/,
  );
});
