import assert from "node:assert/strict";
import { postJson, startNode, type TestNode } from "../_helpers/node_process.ts";
import { freePort, startRedis } from "../_helpers/redis_server.ts";
import { waitFor } from "../_helpers/wait.ts";
import { integration as opts } from "../_helpers/options.ts";

const TOKEN = "start-without-redis-token-0123";
const AUTH = { authorization: `Bearer ${TOKEN}` };

type Json = Record<string, unknown>;

/** How long a node may take to notice Redis is up: reconnect backoff (≤ 2 s) plus slack. */
const CONNECT_WAIT_MS = 20_000;

function env(port: number, id: string, failureMode: string): Record<string, string> {
  return {
    RATELIMITER_REDIS_URL: `redis://127.0.0.1:${port}`,
    RATELIMITER_NODE_ID: id,
    RATELIMITER_FAILURE_MODE: failureMode,
    RATELIMITER_STORE_TIMEOUT_MS: "2000",
    RATELIMITER_NODE_TTL_SECONDS: "3",
    RATELIMITER_NODE_HEARTBEAT_SECONDS: "1",
    RATELIMITER_ADMIN_TOKEN: TOKEN,
  };
}

async function status(url: string): Promise<number> {
  const res = await fetch(url);
  await res.body?.cancel();
  return res.status;
}

async function nodeStates(node: TestNode): Promise<Record<string, unknown>> {
  const res = await fetch(`${node.url}/api/nodes`, { headers: AUTH });
  if (res.status !== 200) {
    await res.body?.cancel();
    return {};
  }
  const body = await res.json() as { nodes: Json[] };
  return Object.fromEntries(body.nodes.map((n) => [n.id, n.state]));
}

const events = (node: TestNode, event: string) => node.logs.filter((l) => l.event === event);

Deno.test({
  name: "main.ts started while Redis is down serves in its failure mode, then registers and " +
    "limits exactly once Redis answers",
  ...opts,
  async fn() {
    const port = freePort(); // nothing listens here yet
    const open = await startNode({ env: env(port, "open-1", "open") });
    const closed = await startNode({ env: env(port, "closed-1", "closed") });
    let writer: TestNode | undefined;
    try {
      for (const node of [open, closed]) {
        assert.equal(await status(`${node.url}/health`), 200);
        assert.equal(await status(`${node.url}/ready`), 503);
        const unavailable = events(node, "redis_unavailable");
        assert.equal(unavailable.length, 1, JSON.stringify(node.logs));
        assert.equal(unavailable[0]!.level, "warn");
        assert.equal(events(node, "redis_connected").length, 0);
      }
      const degraded = await postJson(`${open.url}/check`, { key: "k", limit: 3 });
      assert.equal(degraded.status, 200, JSON.stringify(degraded.body));
      assert.equal(degraded.body.degraded, true);
      const refused = await postJson(`${closed.url}/check`, { key: "k", limit: 3 });
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal((refused.body.error as Json).code, "store_unavailable");

      await using redis = await startRedis(port);
      for (const node of [open, closed]) {
        await waitFor(
          `node on port ${node.port} to be ready`,
          async () => await status(`${node.url}/ready`) === 200,
          CONNECT_WAIT_MS,
          100,
        );
      }
      await waitFor(
        "both nodes registered",
        async () => {
          const states = await nodeStates(open);
          return states["open-1"] === "Up" && states["closed-1"] === "Up";
        },
        CONNECT_WAIT_MS,
        100,
      );
      assert.deepEqual(await redis.cli("HKEYS", "rl:nodes").then((s) => s.split("\n").sort()), [
        "closed-1",
        "open-1",
      ]);

      // Exact again: the scripts loaded on first use.
      const answers = [];
      for (let i = 0; i < 4; i++) {
        answers.push(await postJson(`${open.url}/check`, { key: "exact", limit: 3 }));
      }
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 429]);
      for (const a of answers) assert.equal(a.body.degraded, undefined, JSON.stringify(a.body));

      // The override cache, empty at start, follows changes made elsewhere.
      writer = await startNode({ env: env(port, "writer-1", "open") });
      const put = await fetch(`${writer.url}/api/limits/ovr`, {
        method: "PUT",
        headers: { ...AUTH, "content-type": "application/json" },
        body: JSON.stringify({ limit: 1, window_ms: 60_000 }),
      });
      assert.equal(put.status, 200, await put.text());
      await waitFor(
        "the override applied by the node started without Redis",
        async () =>
          (await postJson(`${open.url}/check`, { key: "ovr", limit: 100 })).body.limit === 1,
        CONNECT_WAIT_MS,
        100,
      );

      for (const node of [open, closed]) {
        assert.equal(events(node, "redis_connected").length, 1, JSON.stringify(node.logs));
        assert.equal(events(node, "redis_unavailable").length, 1);
        assert.equal(events(node, "node_registered").length, 1);
      }
      assert.equal(await open.stop("SIGTERM"), 0);
      assert.equal(await closed.stop("SIGTERM"), 0);
      assert.equal(await writer.stop("SIGTERM"), 0);
    } finally {
      await open.stop("SIGKILL");
      await closed.stop("SIGKILL");
      await writer?.stop("SIGKILL");
    }
  },
});

Deno.test({
  name: "main.ts started while Redis is down exits 1 once Redis answers if its id is taken",
  ...opts,
  async fn() {
    const port = freePort();
    const a = await startNode({ env: env(port, "same-id", "open") });
    const b = await startNode({ env: env(port, "same-id", "open") });
    try {
      await using redis = await startRedis(port);
      // Both register on their first heartbeat that gets through; the second finds the id taken.
      await waitFor(
        "one of the two nodes to exit",
        () =>
          a.logs.some((l) => l.event === "shutdown_complete") ||
          b.logs.some((l) => l.event === "shutdown_complete"),
        CONNECT_WAIT_MS,
        100,
      );
      const [loser, winner] = b.logs.some((l) => l.event === "shutdown_complete") ? [b, a] : [a, b];
      assert.equal((await loser.status).code, 1);
      const line = events(loser, "node_id_conflict")[0];
      assert.ok(line, JSON.stringify(loser.logs));
      assert.match(String(line.message), /"same-id"/);
      assert.match(String(line.message), new RegExp(`127\\.0\\.0\\.1:${winner.port}`));
      assert.equal(events(winner, "node_id_conflict").length, 0);
      assert.equal(await status(`${winner.url}/ready`), 200);
      assert.deepEqual(await nodeStates(winner), { "same-id": "Up" });
      assert.match(await redis.cli("HGET", "rl:nodes", "same-id"), new RegExp(`:${winner.port}`));
      assert.equal(await winner.stop("SIGTERM"), 0);
    } finally {
      await a.stop("SIGKILL");
      await b.stop("SIGKILL");
    }
  },
});
