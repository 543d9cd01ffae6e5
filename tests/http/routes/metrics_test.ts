import assert from "node:assert/strict";
import { createMetrics } from "../../../src/metrics/metrics.ts";
import { jsonRequest, makeTestApp } from "../../_helpers/app.ts";
import { promtool } from "../../_helpers/promtool.ts";

Deno.test("GET /metrics counts checks by result and routes by pattern, never by key", async () => {
  const { app } = makeTestApp({ env: { RATELIMITER_NODE_ID: "node-x" } });
  await app.request("/check", jsonRequest({ key: "secret-key-1", limit: 1 }));
  await app.request("/check", jsonRequest({ key: "secret-key-1", limit: 1 }));
  await app.request("/nope");
  const res = await app.request("/metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
  const text = await res.text();
  assert.match(text, /ratelimiter_requests_checked_total\{result="allowed",node_id="node-x"\} 1/);
  assert.match(text, /ratelimiter_requests_checked_total\{result="blocked",node_id="node-x"\} 1/);
  assert.match(text, /ratelimiter_check_duration_seconds_count\{node_id="node-x"\} 2/);
  assert.match(text, /ratelimiter_check_duration_seconds_bucket\{le="0.0001",node_id="node-x"\}/);
  assert.match(text, /ratelimiter_node_up\{node_id="node-x"\} 1/);
  assert.match(text, /ratelimiter_active_counters\{node_id="node-x"\}/);
  assert.match(
    text,
    /http_requests_total\{method="POST",route="\/check",status="429",node_id="node-x"\} 1/,
  );
  assert.match(text, /http_requests_total\{method="GET",route="unmatched",status="404"/);
  assert.doesNotMatch(text, /secret-key-1/);
  for (const line of text.split("\n")) {
    if (line !== "" && !line.startsWith("#")) assert.match(line, /node_id="node-x"/, line);
  }
});

Deno.test("createMetrics() output passes promtool check metrics", async () => {
  const metrics = createMetrics({ nodeId: "n1" });
  metrics.checkDuration.observe(0.002);
  metrics.httpRequests.inc({ method: "GET", route: "/health", status: "200" });
  metrics.storeErrors.inc({ kind: "timeout" });
  metrics.degradedDecisions.inc({ mode: "open" });
  metrics.circuitState.set(2);
  metrics.storeUp.set(0);
  await new Promise((r) => setTimeout(r, 50));
  const check = await promtool(["check", "metrics"], await metrics.render());
  assert.equal(check.code, 0, check.output);
});

Deno.test("GET /metrics labels an unknown method OTHER, so clients cannot mint series", async () => {
  const { app } = makeTestApp();
  for (let i = 0; i < 20; i++) await app.request("/check", { method: `FOO${i}` });
  const text = await (await app.request("/metrics")).text();
  assert.doesNotMatch(text, /method="FOO/);
  assert.match(
    text,
    /http_requests_total\{method="OTHER",route="unmatched",status="405",node_id="test-8000"\} 20/,
  );
});
