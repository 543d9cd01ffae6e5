import assert from "node:assert/strict";
import type { FailureMode } from "../../../src/store/failure_mode_store.ts";
import { createMetrics } from "../../../src/metrics/metrics.ts";
import { BreakerStore } from "../../../src/store/breaker_store.ts";
import { FailureModeStore } from "../../../src/store/failure_mode_store.ts";
import { jsonRequest, makeTestApp } from "../../_helpers/app.ts";
import { FakeStore } from "../../_helpers/fake_store.ts";

function setup(failureMode: FailureMode, liveNodes = () => 1) {
  const inner = new FakeStore();
  const metrics = createMetrics({ nodeId: "test-8000", defaultMetrics: false });
  const breaker = new BreakerStore({
    inner,
    timeoutMs: 50,
    probeIntervalMs: 30,
    metrics,
  });
  const store = new FailureModeStore({
    inner: breaker,
    failureMode,
    liveNodes,
    metrics,
  });
  const { app } = makeTestApp({ store, metrics });
  return { inner, breaker, store, app, metrics };
}

const check = (body: unknown) => jsonRequest(body);

Deno.test("POST /check in open mode allows and marks the answer degraded while the store is down", async () => {
  const { inner, store, app } = setup("open");
  inner.mode = "fail";
  try {
    for (let i = 0; i < 5; i++) {
      const res = await app.request("/check", check({ key: "k", limit: 2, window_ms: 1000 }));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("X-RateLimit-Degraded"), "open");
      assert.equal(res.headers.get("X-RateLimit-Limit"), "2");
      assert.equal(res.headers.get("X-RateLimit-Remaining"), "1");
      const body = await res.json();
      assert.deepEqual(body, {
        allowed: true,
        key: "k",
        algorithm: "sliding_log",
        current_count: 1,
        remaining: 1,
        retry_after_seconds: 0,
        retry_after_ms: 0,
        reset_after_ms: 1000,
        limit: 2,
        window_ms: 1000,
        degraded: true,
      });
    }
  } finally {
    await store.close();
  }
});

Deno.test("POST /check in closed mode answers 503 store_unavailable with Retry-After", async () => {
  const { inner, store, app, metrics } = setup("closed");
  inner.mode = "fail";
  try {
    const res = await app.request("/check", check({ key: "k" }));
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("Retry-After"), "1");
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const body = await res.json();
    assert.equal(body.error.code, "store_unavailable");
    assert.equal(typeof body.error.message, "string");
    const text = await metrics.render();
    // Counted once, by the store, under what actually failed.
    assert.match(text, /ratelimiter_store_errors_total\{kind="connection",node_id="test-8000"\} 1/);
    assert.doesNotMatch(text, /kind="unavailable"/);
    assert.match(
      text,
      /ratelimiter_degraded_decisions_total\{mode="closed",node_id="test-8000"\} 1/,
    );
  } finally {
    await store.close();
  }
});

Deno.test("POST /check in local mode enforces this node's share and marks it degraded", async () => {
  const { inner, store, app } = setup("local", () => 2);
  inner.mode = "fail";
  try {
    const statuses = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await app.request("/check", check({ key: "k", limit: 6, window_ms: 60_000 }));
      statuses.push(last.status);
      assert.equal(last.headers.get("X-RateLimit-Degraded"), "local");
      if (i < 4) await last.body?.cancel();
    }
    // ceil(6 / 2) = 3 on this node.
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const body = await last!.json();
    assert.equal(body.allowed, false);
    assert.equal(body.degraded, true);
    assert.ok(Number(last!.headers.get("Retry-After")) >= 1);
  } finally {
    await store.close();
  }
});

Deno.test("GET /ready is 503 while the circuit is open and 200 once the store is back", async () => {
  const { inner, breaker, store, app, metrics } = setup("open");
  try {
    assert.equal((await app.request("/ready")).status, 200);
    inner.mode = "fail";
    for (let i = 0; i < 3; i++) {
      await (await app.request("/check", check({ key: "k" }))).body?.cancel();
    }
    assert.equal(breaker.circuitState, "open");
    const down = await app.request("/ready");
    assert.equal(down.status, 503);
    assert.deepEqual((await down.json()).store, { kind: "redis", status: "down" });
    const health = await app.request("/health");
    assert.equal(health.status, 200);
    assert.equal((await health.json()).store.status, "down");
    assert.match(await metrics.render(), /ratelimiter_store_up\{node_id="test-8000"\} 0/);
    inner.mode = "up";
    const deadline = Date.now() + 5000;
    while ((breaker.circuitState as string) !== "closed" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await app.request("/ready")).status, 200);
    const res = await app.request("/check", check({ key: "k" }));
    assert.equal(res.headers.get("X-RateLimit-Degraded"), null);
    assert.equal((await res.json()).degraded, undefined);
  } finally {
    await store.close();
  }
});

Deno.test("GET /metrics shows a healthy store as up with its circuit closed", async () => {
  const { app, store } = setup("open");
  try {
    const text = await (await app.request("/metrics")).text();
    assert.match(text, /# TYPE ratelimiter_store_up gauge/);
    assert.match(text, /ratelimiter_store_up\{node_id="test-8000"\} 1/);
    assert.match(text, /# TYPE ratelimiter_circuit_state gauge/);
    assert.match(text, /ratelimiter_circuit_state\{node_id="test-8000"\} 0/);
    assert.match(text, /# TYPE ratelimiter_degraded_decisions_total counter/);
  } finally {
    await store.close();
  }
});
