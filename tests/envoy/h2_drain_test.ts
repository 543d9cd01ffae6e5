import assert from "node:assert/strict";
import { startH2GrpcServer } from "../../src/envoy/h2_server.ts";
import { createRateLimitService } from "../../src/envoy/service.ts";
import { noOverrides } from "../../src/limiter/resolve.ts";
import { silentLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { parseRules } from "../../src/rules/parse_rules.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/types.ts";
import { connectRls, grpcCode } from "./_grpc_client.ts";

const RULES = parseRules([{
  name: "r.yaml",
  text:
    "domain: d\ndescriptors:\n  - key: k\n    rate_limit: { unit: hour, requests_per_unit: 5 }\n",
}]);

Deno.test("close() lets a call in flight finish, then refuses new calls", async () => {
  const inner = new MemoryStore({});
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let entered!: () => void;
  const inside = new Promise<void>((r) => entered = r);
  const store = {
    ...inner,
    check: async (requests: Parameters<Store["check"]>[0]) => {
      entered();
      await gate;
      return inner.check(requests);
    },
  } as Store;
  let draining = false;
  const server = await startH2GrpcServer({
    hostname: "127.0.0.1",
    port: 0,
    shouldRateLimit: createRateLimitService({
      store,
      rules: () => RULES,
      overrides: noOverrides,
      metrics: createMetrics({ nodeId: "t", defaultMetrics: false }),
      rateLimitHeaders: false,
    }),
    serving: () => !draining,
    bodyTimeoutMs: 10_000,
    logger: silentLogger,
  });
  const client = connectRls(server.port);
  try {
    assert.deepEqual(await client.healthCheck(), { status: "SERVING" });
    const call = client.shouldRateLimit({
      domain: "d",
      descriptors: [{ entries: [{ key: "k", value: "v" }] }],
    });
    await inside;
    draining = true;
    const closed = server.close(5000);
    release();
    const answer = await call;
    assert.equal(answer.overall_code, "OK");
    assert.equal(answer.statuses[0]!.limit_remaining, 4);
    await closed;
    // Closed: a new call cannot get through.
    const late = connectRls(server.port);
    try {
      await assert.rejects(late.healthCheck(), (error) => grpcCode(error) === 14);
    } finally {
      late.close();
    }
  } finally {
    client.close();
    await server.close(100);
  }
});
