import assert from "node:assert/strict";
import { join } from "node:path";
import { parseConfig } from "../../../src/config.ts";
import { createApp } from "../../../src/http/app.ts";
import { rulesAnswerSchema } from "../../../src/http/openapi.ts";
import { silentLogger } from "../../../src/log.ts";
import { createMetrics } from "../../../src/metrics/metrics.ts";
import { Rules } from "../../../src/rules/rules_holder.ts";
import { MemoryStore } from "../../../src/store/memory_store.ts";

const TOKEN = "a-token-of-sixteen-chars";

const FILE = `domain: edge
descriptors:
  - key: remote_address
    rate_limit: {unit: second, requests_per_unit: 10}
  - key: remote_address
    value: 50.0.0.5
    rate_limit: {name: banned, unit: second, requests_per_unit: 0}
  - key: user
    value: vip*
    shadow_mode: true
    rate_limit: {window: 5m, requests_per_unit: 100, algorithm: gcra, burst: 20}
  - key: internal
    rate_limit: {unlimited: true}
`;

async function setup(env: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "rules.yaml");
  await Deno.writeTextFile(path, FILE);
  const config = parseConfig({ RATELIMITER_RULES_FILE: path, ...env }, { hostname: "test" });
  const metrics = createMetrics({ nodeId: config.nodeId, defaultMetrics: false });
  const rules = await Rules.load({
    path,
    logger: silentLogger,
    watch: false,
    onReload: (result) => metrics.rulesReloads.labels({ result }).inc(),
  });
  const app = createApp({
    config,
    store: new MemoryStore({ sweepIntervalMs: 0 }),
    metrics,
    logger: silentLogger,
    rules,
  });
  return {
    app,
    path,
    rules,
    metrics,
    async [Symbol.asyncDispose]() {
      await rules.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("GET /api/rules shows the rules in force, as documented", async () => {
  await using t = await setup();
  const res = await t.app.request("/api/rules");
  assert.equal(res.status, 200);
  const body = rulesAnswerSchema.parse(await res.json());
  assert.equal(body.path, t.path);
  assert.deepEqual(body.files, [t.path]);
  assert.match(body.hash, /^[0-9a-f]{64}$/);
  assert.ok(body.loaded_at !== null && !Number.isNaN(Date.parse(body.loaded_at)));
  assert.equal(body.last_reload, null);
  assert.deepEqual(body.domains.map((d) => d.domain), ["edge"]);
  assert.deepEqual(body.domains[0]!.rules, [
    {
      path: ["remote_address"],
      name: null,
      unlimited: false,
      requests_per_unit: 10,
      unit: "second",
      unit_multiplier: 1,
      window_ms: 1000,
      algorithm: "fixed_window",
      burst: null,
      refill_rate: null,
      shadow_mode: false,
      detailed_metric: false,
      replaces: [],
    },
    {
      path: ["remote_address_50.0.0.5"],
      name: "banned",
      unlimited: false,
      requests_per_unit: 0,
      unit: "second",
      unit_multiplier: 1,
      window_ms: 1000,
      algorithm: "fixed_window",
      burst: null,
      refill_rate: null,
      shadow_mode: false,
      detailed_metric: false,
      replaces: [],
    },
    {
      path: ["user_vip*"],
      name: null,
      unlimited: false,
      requests_per_unit: 100,
      unit: null,
      unit_multiplier: 1,
      window_ms: 300_000,
      algorithm: "gcra",
      burst: 20,
      refill_rate: null,
      shadow_mode: true,
      detailed_metric: false,
      replaces: [],
    },
    {
      path: ["internal"],
      name: null,
      unlimited: true,
      requests_per_unit: 0,
      unit: null,
      unit_multiplier: 1,
      window_ms: 0,
      algorithm: "fixed_window",
      burst: null,
      refill_rate: null,
      shadow_mode: false,
      detailed_metric: false,
      replaces: [],
    },
  ]);
});

Deno.test("GET /api/rules shows a refused reload and the rules kept; the metric counts it", async () => {
  await using t = await setup();
  const before = rulesAnswerSchema.parse(await (await t.app.request("/api/rules")).json());
  await Deno.writeTextFile(t.path, "domain: edge\ndescriptors:\n  - key: ''\n");
  assert.equal(await t.rules.reload(), false);
  const body = rulesAnswerSchema.parse(await (await t.app.request("/api/rules")).json());
  assert.equal(body.hash, before.hash);
  assert.deepEqual(body.domains, before.domains);
  assert.equal(body.last_reload?.result, "error");
  assert.deepEqual(body.last_reload?.issues, [
    `${t.path}, document 1, descriptors[0].key: must not be empty`,
  ]);
  const metrics = await (await t.app.request("/metrics")).text();
  assert.match(metrics, /ratelimiter_rules_reloads_total\{result="error",node_id="[^"]+"\} 1\n/);
  assert.match(metrics, /ratelimiter_rules_reloads_total\{result="ok",node_id="[^"]+"\} 0\n/);
});

Deno.test("GET /api/rules needs the admin token only with RATELIMITER_ADMIN_READ_AUTH", async () => {
  {
    await using t = await setup({ RATELIMITER_ADMIN_TOKEN: TOKEN });
    assert.equal((await t.app.request("/api/rules")).status, 200);
  }
  await using t = await setup({
    RATELIMITER_ADMIN_TOKEN: TOKEN,
    RATELIMITER_ADMIN_READ_AUTH: "true",
  });
  const refused = await t.app.request("/api/rules");
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).error.code, "unauthorized");
  const res = await t.app.request("/api/rules", { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
});

Deno.test("GET /api/rules without a rules file lists no domain", async () => {
  const config = parseConfig({}, { hostname: "test" });
  const rules = await Rules.load({ path: undefined, logger: silentLogger });
  const app = createApp({
    config,
    store: new MemoryStore({ sweepIntervalMs: 0 }),
    metrics: createMetrics({ nodeId: "n", defaultMetrics: false }),
    logger: silentLogger,
    rules,
  });
  const body = rulesAnswerSchema.parse(await (await app.request("/api/rules")).json());
  assert.equal(body.path, null);
  assert.deepEqual(body.files, []);
  assert.deepEqual(body.domains, []);
});
