import assert from "node:assert/strict";
import { MemoryNodeStats } from "../../../src/cluster/memory_node_stats.ts";
import { MemoryRegistry } from "../../../src/cluster/memory_registry.ts";
import { NodeRegistry } from "../../../src/cluster/node_registry.ts";
import { LocalFigures, type NodeFigures } from "../../../src/cluster/node_stats.ts";
import type { NodeInfo } from "../../../src/cluster/registry.ts";
import { clusterView, STALE_FIGURES_MS } from "../../../src/http/routes/admin.ts";
import { clusterAnswerSchema } from "../../../src/http/openapi.ts";
import { createMetrics } from "../../../src/metrics/metrics.ts";
import { MemoryStore } from "../../../src/store/memory_store.ts";
import { jsonRequest, makeTestApp } from "../../_helpers/app.ts";
import { createManualClock } from "../../_helpers/manual_clock.ts";

/** A NodeStats that also lists the figures other nodes published. */
class SharedStats extends MemoryNodeStats {
  others = new Map<string, NodeFigures>();
  override async read(): Promise<Map<string, NodeFigures>> {
    const all = await super.read();
    for (const [id, f] of this.others) all.set(id, f);
    return all;
  }
}

function figures(allowed: number, blocked: number, at: number): NodeFigures {
  return {
    allowed_per_second: allowed,
    blocked_per_second: blocked,
    p99_check_ms: 1.5,
    store: { kind: "redis", status: "up" },
    circuit_state: "closed",
    at,
  };
}

Deno.test("GET /api/cluster joins the registry's nodes with their figures, totals over Up nodes", async () => {
  const clock = createManualClock(Date.now());
  const backend = new MemoryRegistry({ clock });
  const timing = { ttlMs: 3000, keepMs: 30_000 };
  const registration = (id: string) => ({
    id,
    address: `10.0.0.1:${id}`,
    version: "1",
    instance: id,
    registeredAt: undefined,
  });
  // node-c beats once, then falls silent: Down once the TTL passes.
  await backend.register(registration("node-c"), timing);
  clock.advance(5000);
  await backend.register(registration("node-b"), timing);
  const metrics = createMetrics({ nodeId: "node-a", defaultMetrics: false });
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  const registry = new NodeRegistry({
    backend,
    id: "node-a",
    address: "10.0.0.1:8080",
    ttlSeconds: 3,
    heartbeatSeconds: 1,
    autoHeartbeat: false,
  });
  await registry.start();
  const nodeStats = new SharedStats({
    id: "node-a",
    figures: new LocalFigures({ metrics, store }),
  });
  nodeStats.others.set("node-b", figures(10, 2.5, Date.now()));
  nodeStats.others.set("node-c", figures(100, 100, Date.now() - 60_000));
  const { app } = makeTestApp({
    env: { RATELIMITER_NODE_ID: "node-a" },
    registry,
    metrics,
    store,
    nodeStats,
  });

  await app.request("/check", jsonRequest({ key: "k", limit: 1 }));
  const res = await app.request("/api/cluster");
  assert.equal(res.status, 200);
  const body = clusterAnswerSchema.parse(await res.json());
  assert.deepEqual(body.nodes.map((n) => [n.id, n.state]), [["node-a", "Up"], ["node-b", "Up"], [
    "node-c",
    "Down",
  ]]);
  const [a, b, c] = body.nodes;
  // This node: its own live figures (the embedded store: no circuit breaker).
  assert.deepEqual(a!.store, { kind: "memory", status: "up" });
  assert.equal(a!.circuit_state, null);
  assert.equal(a!.address, "10.0.0.1:8080");
  assert.equal(b!.allowed_per_second, 10);
  assert.equal(b!.blocked_per_second, 2.5);
  assert.equal(b!.p99_check_ms, 1.5);
  assert.equal(b!.circuit_state, "closed");
  // A Down node keeps its last figures but does not count in the totals.
  assert.equal(c!.allowed_per_second, 100);
  assert.deepEqual(body.totals, {
    allowed_per_second: 10 + a!.allowed_per_second,
    blocked_per_second: 2.5 + a!.blocked_per_second,
  });
});

Deno.test("GET /api/cluster needs the token when RATELIMITER_ADMIN_READ_AUTH is set", async () => {
  const { app } = makeTestApp({
    env: {
      RATELIMITER_ADMIN_TOKEN: "test-admin-token-0123456789",
      RATELIMITER_ADMIN_READ_AUTH: "true",
    },
  });
  const res = await app.request("/api/cluster");
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.code, "unauthorized");
  const ok = await app.request("/api/cluster", {
    headers: { authorization: "Bearer test-admin-token-0123456789" },
  });
  assert.equal(ok.status, 200);
  clusterAnswerSchema.parse(await ok.json());
});

function node(id: string, state: "Up" | "Down"): NodeInfo {
  return {
    id,
    address: `h:${id}`,
    version: "1",
    instance: id,
    registeredAt: 0,
    lastHeartbeatAt: 1000,
    state,
    lastHeartbeatAgeMs: 0,
  };
}

Deno.test("clusterView() shows an Up node without fresh figures with zero rates", () => {
  const now = 1_700_000_000_000;
  const view = clusterView(
    [node("new", "Up"), node("stalled", "Up")],
    (n) => n.id === "stalled" ? figures(7, 7, now - STALE_FIGURES_MS - 1) : undefined,
    "redis",
    now,
  );
  assert.deepEqual(view.nodes[0]!.store, { kind: "redis", status: "up" });
  assert.equal(view.nodes[0]!.p99_check_ms, null);
  assert.equal(view.nodes[1]!.allowed_per_second, 0);
  assert.equal(view.nodes[1]!.p99_check_ms, null);
  assert.equal(view.nodes[1]!.circuit_state, "closed");
  assert.deepEqual(view.totals, { allowed_per_second: 0, blocked_per_second: 0 });
  assert.equal(view.generated_at, new Date(now).toISOString());
});
