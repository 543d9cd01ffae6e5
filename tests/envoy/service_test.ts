import assert from "node:assert/strict";
import { createRateLimitService, MAX_DETAILED_SERIES } from "../../src/envoy/service.ts";
import type { RlsRequest } from "../../src/envoy/messages.ts";
import { noOverrides, type OverrideLookup } from "../../src/limiter/resolve.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { parseRules } from "../../src/rules/parse_rules.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/types.ts";

const RULES = parseRules([{
  name: "rules.yaml",
  text: `
domain: m
descriptors:
  - key: s
    shadow_mode: true
    rate_limit: { unit: hour, requests_per_unit: 1, name: shadowed }
  - key: d
    detailed_metric: true
    rate_limit: { unit: hour, requests_per_unit: 5, name: detailed }
  - key: g
    rate_limit: { unit: hour, requests_per_unit: 3, algorithm: gcra, burst: 3 }
`,
}]);

function service(options: { store?: Store; overrides?: OverrideLookup } = {}) {
  const metrics = createMetrics({ nodeId: "t", defaultMetrics: false });
  const rls = createRateLimitService({
    store: options.store ?? new MemoryStore({}),
    rules: () => RULES,
    overrides: options.overrides ?? noOverrides,
    metrics,
    rateLimitHeaders: false,
  });
  return { rls, metrics };
}

const req = (key: string, value: string): RlsRequest => ({
  domain: "m",
  descriptors: [{ entries: [{ key, value }], limit: undefined, hitsAddend: undefined }],
  hitsAddend: 0,
});

Deno.test("shadow mode answers OK and counts the would-be denial as result=shadow", async () => {
  const { rls, metrics } = service();
  await rls(req("s", "1"));
  const res = await rls(req("s", "1"));
  assert.equal(res.overallCode, 1);
  assert.equal(res.statuses[0]!.code, 1);
  assert.match(
    await metrics.render(),
    /ratelimiter_rls_decisions_total\{[^}]*rule="shadowed",result="shadow"[^}]*\} 1/,
  );
});

Deno.test("detailed_metric rules label descriptor values, capped at MAX_DETAILED_SERIES", async () => {
  const { rls, metrics } = service();
  for (let i = 0; i < MAX_DETAILED_SERIES + 5; i++) await rls(req("d", `v${i}`));
  const text = await metrics.render();
  const series = text.split("\n").filter((l) => l.startsWith("ratelimiter_rls_detailed_total"));
  assert.equal(series.length, MAX_DETAILED_SERIES + 1);
  assert.match(text, /descriptor="d_v0"/);
  assert.match(text, /descriptor="_other"[^}]*\} 5/);
  // Rules without detailed_metric never carry values.
  await rls(req("s", "secret-value"));
  assert.doesNotMatch(await metrics.render(), /secret-value/);
});

Deno.test("a rule's algorithm applies; an operator's per-key override beats the rule", async () => {
  const store = new MemoryStore({});
  const overrides: OverrideLookup = {
    get: (key) => key === "rls:m/g=vip" ? { limit: 50, windowMs: 3_600_000 } : undefined,
  };
  const { rls } = service({ store, overrides });
  const plain = await rls(req("g", "x"));
  assert.equal(plain.statuses[0]!.currentLimit!.requestsPerUnit, 3);
  assert.equal(plain.statuses[0]!.limitRemaining, 2);
  const vip = await rls(req("g", "vip"));
  assert.equal(vip.statuses[0]!.currentLimit!.requestsPerUnit, 50);
  assert.equal(vip.statuses[0]!.currentLimit!.unit, 3); // HOUR
  assert.equal(vip.statuses[0]!.limitRemaining, 49);
  const counters = await store.listCounters({ limit: 10 });
  assert.deepEqual(
    counters.counters.map((c) => [c.key, c.algorithm]).sort(),
    [["rls:m/g=vip", "gcra"], ["rls:m/g=x", "gcra"]],
  );
});
