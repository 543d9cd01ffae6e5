import assert from "node:assert/strict";
import { clusterAnswerSchema } from "../../src/http/openapi.ts";
import { postJson, startNode, type TestNode } from "../_helpers/node_process.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { waitFor } from "../_helpers/wait.ts";
import { integration as opts } from "../_helpers/options.ts";

type Cluster = ReturnType<typeof clusterAnswerSchema.parse>;

async function cluster(node: TestNode): Promise<Cluster> {
  const res = await fetch(`${node.url}/api/cluster`);
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return clusterAnswerSchema.parse(body);
}

Deno.test({
  name: "GET /api/cluster on one node shows another node's traffic, and the node Down once killed",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const env = (id: string) => ({
      RATELIMITER_REDIS_URL: redis.url,
      RATELIMITER_NODE_ID: id,
      RATELIMITER_NODE_TTL_SECONDS: "2",
      RATELIMITER_NODE_HEARTBEAT_SECONDS: "1",
    });
    await using a = await startNode({ env: env("node-a") });
    await using b = await startNode({ env: env("node-b") });

    // Checks keep going to node A (each round: 3 allowed on fresh keys, 2 blocked on a spent
    // one) until node B's summary shows A's rates; the rates cover only the last few seconds.
    await postJson(`${a.url}/check`, { key: "spent", limit: 1, window_ms: 600_000 });
    let round = 0;
    let seen: Cluster | undefined;
    await waitFor(
      "node B to show node A's allowed and blocked rates",
      async () => {
        round++;
        for (let i = 0; i < 3; i++) {
          const r = await postJson(`${a.url}/check`, { key: `fresh-${round}-${i}`, limit: 10 });
          assert.equal(r.status, 200);
        }
        for (let i = 0; i < 2; i++) {
          const r = await postJson(`${a.url}/check`, {
            key: "spent",
            limit: 1,
            window_ms: 600_000,
          });
          assert.equal(r.status, 429);
        }
        seen = await cluster(b);
        const nodeA = seen.nodes.find((n) => n.id === "node-a");
        return nodeA !== undefined && nodeA.allowed_per_second > 0 && nodeA.blocked_per_second > 0;
      },
      20_000,
      100,
    );
    const summary = seen!;
    assert.deepEqual(summary.nodes.map((n) => [n.id, n.state]), [["node-a", "Up"], [
      "node-b",
      "Up",
    ]]);
    const nodeA = summary.nodes[0]!;
    assert.deepEqual(nodeA.store, { kind: "redis", status: "up" });
    assert.equal(nodeA.circuit_state, "closed");
    assert.equal(nodeA.address, `127.0.0.1:${a.port}`);
    assert.ok(nodeA.p99_check_ms !== null && nodeA.p99_check_ms > 0);
    assert.ok(summary.totals.allowed_per_second >= nodeA.allowed_per_second);
    assert.ok(summary.totals.blocked_per_second >= nodeA.blocked_per_second);
    const fields = await redis.cli("--raw", "HKEYS", "rl:node_stats");
    assert.deepEqual(fields.split("\n").filter((f) => f !== "").sort(), ["node-a", "node-b"]);

    await a.stop("SIGKILL");
    await waitFor(
      "node B to show node A Down",
      async () => {
        const after = await cluster(b);
        return after.nodes.find((n) => n.id === "node-a")?.state === "Down";
      },
      20_000,
      100,
    );
    const after = await cluster(b);
    const nodeB = after.nodes.find((n) => n.id === "node-b")!;
    assert.equal(nodeB.state, "Up");
    // Totals count only the Up nodes.
    assert.equal(after.totals.allowed_per_second, nodeB.allowed_per_second);
    assert.equal(after.totals.blocked_per_second, nodeB.blocked_per_second);

    // A node that stops cleanly removes its figures.
    assert.equal(await b.stop("SIGTERM"), 0);
    assert.equal(await redis.cli("HEXISTS", "rl:node_stats", "node-b"), "0");
  },
});
