/**
 * A node out of file descriptors (issue 9, item 5): `Deno.serve` closes its listener for good on
 * EMFILE, so the node starts it again, and exits non-zero (leaving the registry) if it cannot.
 * Real node processes with a low `--nofile` limit; idle connections on 127.0.0.1 only, bounded in
 * count and time, always closed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startNode, type TestNode } from "../_helpers/node_process.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";
import { sleep } from "../_helpers/wait.ts";

/** Most idle connections a test opens: well above the node's descriptor limit. */
const MAX_CONNECTIONS = 300;
const FD_LIMIT = 128;

const events = (node: TestNode) => node.logs.map((l) => l.event);

/**
 * Opens idle connections to `node` until its listener dies (it logs `listener_failed`) or
 * `MAX_CONNECTIONS` are open. A connection may still succeed after that: the kernel queues it on
 * the next listener until the node accepts it. The caller closes them.
 */
async function exhaust(node: TestNode, conns: Deno.Conn[]): Promise<boolean> {
  for (let attempt = 0; attempt < MAX_CONNECTIONS && conns.length < MAX_CONNECTIONS; attempt++) {
    if (events(node).includes("listener_failed")) return true;
    try {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port: node.port }));
    } catch { /* refused: no listener */ }
    if (attempt % 10 === 9) await sleep(20);
  }
  await sleep(200);
  return events(node).includes("listener_failed");
}

async function health(node: TestNode): Promise<number | undefined> {
  try {
    const res = await fetch(`${node.url}/health`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return undefined;
  }
}

function closeAll(conns: Deno.Conn[]): void {
  for (const c of conns.splice(0)) {
    try {
      c.close();
    } catch { /* closed by the peer */ }
  }
}

Deno.test({
  name: "A node whose listener died of EMFILE listens again once descriptors are free",
  ...opts,
  async fn() {
    await using node = await startNode({ fdLimit: FD_LIMIT });
    const conns: Deno.Conn[] = [];
    try {
      assert.ok(await exhaust(node, conns), "the listener never died");
      closeAll(conns);
      let status: number | undefined;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = await health(node);
        if (status !== 200) await sleep(100);
      }
      assert.equal(status, 200);
      assert.ok(!events(node).includes("listener_dead"), JSON.stringify(events(node)));
    } finally {
      closeAll(conns);
    }
  },
});

Deno.test({
  name: "A node that cannot listen again exits non-zero and leaves the registry",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    await using node = await startNode({
      fdLimit: FD_LIMIT,
      env: { RATELIMITER_REDIS_URL: redis.url, RATELIMITER_NODE_ID: "fd-starved" },
    });
    const conns: Deno.Conn[] = [];
    let exited = false;
    node.status.then(() => exited = true);
    try {
      assert.notEqual(await redis.cli("HGET", "rl:nodes", "fd-starved"), "");
      // Keep every descriptor taken: each new listener dies at its first accept.
      const until = Date.now() + 30_000;
      while (!exited && Date.now() < until) {
        // Connect again and again: each listener started anew dies at its first accept.
        if (conns.length < MAX_CONNECTIONS) {
          try {
            conns.push(await Deno.connect({ hostname: "127.0.0.1", port: node.port }));
          } catch { /* refused: between two listeners */ }
        }
        await sleep(20);
      }
      assert.ok(exited, "the node still runs without a listener");
      const { code } = await node.status;
      assert.equal(code, 1);
      assert.ok(events(node).includes("listener_dead"), JSON.stringify(events(node)));
      assert.equal(await redis.cli("HGET", "rl:nodes", "fd-starved"), "");
    } finally {
      closeAll(conns);
    }
  },
});
