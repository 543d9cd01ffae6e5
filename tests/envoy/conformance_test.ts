import assert from "node:assert/strict";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { createManualClock } from "../_helpers/manual_clock.ts";
import { CONFORMANCE_RULES, runConformance } from "./_conformance.ts";
import { parseRules } from "../../src/rules/parse_rules.ts";
import { startTestRls } from "./_server.ts";
import { connectRls } from "./_grpc_client.ts";

Deno.test("Envoy protocol conformance over gRPC, on the embedded store", async (t) => {
  await using rls = await startTestRls({ rules: CONFORMANCE_RULES });
  await runConformance(t, rls.client);
  const text = await rls.metrics.render();
  const calls = (method: string, code: string) =>
    Number(
      new RegExp(`ratelimiter_grpc_calls_total\\{method="${method}",code="${code}"[^}]*\\} (\\d+)`)
        .exec(text)?.[1] ?? 0,
    );
  assert.equal(calls("ShouldRateLimit", "INVALID_ARGUMENT"), 3);
  assert.ok(calls("ShouldRateLimit", "OK") > 40);
  assert.equal(calls("Health/Check", "NOT_FOUND"), 1);
  assert.equal(calls("unknown", "UNIMPLEMENTED"), 1); // Health/Watch
});

Deno.test("Envoy protocol conformance over gRPC, on the node:http2 transport", async (t) => {
  await using rls = await startTestRls({ rules: CONFORMANCE_RULES, transport: "node" });
  await runConformance(t, rls.client);
});

Deno.test("duration_until_reset counts down to the end of the epoch-aligned window", async () => {
  // 1_700_000_000 s is 20 s into its minute (1_700_000_000 % 60 = 20).
  const clock = createManualClock(1_700_000_000_000);
  await using rls = await startTestRls({
    rules: parseRules([{
      name: "d.yaml",
      text:
        "domain: d\ndescriptors:\n  - key: k\n    rate_limit: { unit: minute, requests_per_unit: 5 }\n",
    }]),
    store: new MemoryStore({ clock }),
    now: clock,
  });
  const req = { domain: "d", descriptors: [{ entries: [{ key: "k", value: "v" }] }] };
  const seen: number[] = [];
  for (const step of [0, 10_000, 15_500, 14_000]) {
    clock.advance(step);
    const res = await rls.client.shouldRateLimit(req);
    seen.push(res.statuses[0]!.duration_until_reset!.seconds);
  }
  assert.deepEqual(seen, [40, 30, 15, 1]);
  // The next window: counted afresh, a full minute to go.
  clock.advance(1000);
  const res = await rls.client.shouldRateLimit(req);
  assert.equal(res.statuses[0]!.limit_remaining, 4);
  assert.equal(res.statuses[0]!.duration_until_reset!.seconds, 60);
});

Deno.test("300 concurrent calls over 3 connections, limit 100: exactly 100 OK (embedded)", async () => {
  await using rls = await startTestRls({
    rules: parseRules([{
      name: "x.yaml",
      text:
        "domain: x\ndescriptors:\n  - key: u\n    rate_limit: { unit: hour, requests_per_unit: 100 }\n",
    }]),
  });
  const clients = [rls.client, connectRls(rls.port), connectRls(rls.port)];
  try {
    const request = { domain: "x", descriptors: [{ entries: [{ key: "u", value: "1" }] }] };
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => clients[i % 3]!.shouldRateLimit(request)),
    );
    assert.equal(answers.filter((a) => a.overall_code === "OK").length, 100);
  } finally {
    clients[1]!.close();
    clients[2]!.close();
  }
});
