import assert from "node:assert/strict";
import { postJson, startNode } from "./_helpers/node_process.ts";
import { freePort } from "./_helpers/redis_server.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "main.ts exits 1 before listening and names every bad variable",
  ...opts,
  async fn() {
    const node = await startNode({
      env: { RATELIMITER_DEFAULT_LIMIT: "lots", RATELIMITER_LOG_LEVEL: "chatty" },
      waitReady: false,
    });
    const status = await node.status;
    assert.equal(status.code, 1);
    const line = node.logs.find((l) => l.event === "invalid_config");
    assert.ok(line, JSON.stringify(node.logs));
    assert.match(String(line.message), /RATELIMITER_DEFAULT_LIMIT.*received "lots"/);
    assert.match(String(line.message), /RATELIMITER_LOG_LEVEL.*received "chatty"/);
    assert.equal(node.logs.some((l) => l.event === "listening"), false);
  },
});

Deno.test({
  name: "main.ts exits 1 with a clear message when Redis cannot be reached",
  ...opts,
  async fn() {
    const port = freePort();
    const node = await startNode({
      env: { RATELIMITER_REDIS_URL: `redis://:hunter2@127.0.0.1:${port}` },
      waitReady: false,
    });
    const status = await node.status;
    assert.equal(status.code, 1);
    const line = node.logs.find((l) => l.event === "redis_unavailable");
    assert.ok(line, JSON.stringify(node.logs));
    assert.match(
      String(line.message),
      new RegExp(`Cannot connect to Redis at redis://:\\*\\*\\*@127.0.0.1:${port}`),
    );
    assert.doesNotMatch(JSON.stringify(node.logs), /hunter2/);
  },
});

Deno.test({
  name: "main.ts serves on the embedded store and exits 0 on SIGTERM",
  ...opts,
  async fn() {
    const node = await startNode();
    const res = await postJson(`${node.url}/check`, { key: "k", limit: 1 });
    assert.equal(res.status, 200);
    assert.equal((await postJson(`${node.url}/check`, { key: "k", limit: 1 })).status, 429);
    assert.equal(await node.stop("SIGTERM"), 0);
    assert.ok(node.logs.some((l) => l.event === "shutdown_complete"));
  },
});
