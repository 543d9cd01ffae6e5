import assert from "node:assert/strict";
import { startRedis } from "../_helpers/redis_server.ts";
import { postJson, startNode } from "../_helpers/node_process.ts";
import { freePort } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";
import { waitFor } from "../_helpers/wait.ts";

Deno.test({
  name: "two main.ts processes share one port with RATELIMITER_REUSE_PORT, as two nodes",
  ignore: Deno.build.os !== "linux",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const port = freePort();
    const env = { RATELIMITER_REDIS_URL: redis.url, RATELIMITER_REUSE_PORT: "true" };
    await using a = await startNode({ port, env });
    // Without SO_REUSEPORT on both, this second listen fails and the process exits.
    await using b = await startNode({ port, env });

    // `/health` on the shared port may have been answered by `a`: wait for `b` to register.
    type Listed = { id: string; address: string; state: string };
    let nodes: Listed[] = [];
    await waitFor("both processes to register", async () => {
      const res = await fetch(`${a.url}/api/nodes`);
      nodes = (await res.json()).nodes;
      return nodes.length === 2;
    });
    // Each process registered under its own id (host-port-pid), both at the shared address.
    const ids = nodes.map((n) => n.id).sort();
    assert.notEqual(ids[0], ids[1]);
    for (const n of nodes) {
      assert.match(n.id, new RegExp(`-${port}-(${a.pid}|${b.pid})$`));
      assert.equal(n.address, `127.0.0.1:${port}`);
      assert.equal(n.state, "Up");
    }

    // The kernel spreads new connections over both: 32 one-request connections reach both ids
    // (all on one process would happen with probability 2^-31).
    const served = new Set<string>();
    const statuses: number[] = [];
    for (let i = 0; i < 32; i++) {
      const health = await fetch(`${a.url}/health`, { headers: { connection: "close" } });
      served.add((await health.json()).node_id);
      // Both count in the one Redis: of these checks of limit 3, exactly three are allowed.
      const check = await fetch(`${a.url}/check`, {
        method: "POST",
        headers: { "content-type": "application/json", connection: "close" },
        body: JSON.stringify({ key: "shared", limit: 3, window_ms: 60_000 }),
      });
      await check.body?.cancel();
      statuses.push(check.status);
    }
    assert.deepEqual([...served].sort(), ids);
    assert.deepEqual(statuses, [200, 200, 200, ...Array(29).fill(429)]);

    // One process gone, the other still serves the port.
    assert.equal(await a.stop(), 0);
    const after = await postJson(`${b.url}/check`, { key: "other", limit: 3, window_ms: 60_000 });
    assert.equal(after.status, 200);
  },
});

Deno.test({
  name: "without RATELIMITER_REUSE_PORT a second process cannot take a port in use",
  ignore: Deno.build.os !== "linux",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const port = freePort();
    await using a = await startNode({ port, env: { RATELIMITER_REDIS_URL: redis.url } });
    await using b = await startNode({
      port,
      env: { RATELIMITER_REDIS_URL: redis.url, RATELIMITER_NODE_ID: "second" },
      waitReady: false,
    });
    assert.notEqual((await b.status).code, 0);
    assert.equal((await fetch(`${a.url}/health`)).status, 200);
  },
});
