import assert from "node:assert/strict";
import { MemoryEvents } from "../src/cluster/memory_events.ts";
import { parseConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { createMetrics } from "../src/metrics/metrics.ts";
import { createNode, createStoreStack, NodeStartError } from "../src/node.ts";
import type { RedisClient } from "../src/redis/client.ts";
import { BlockCacheStore } from "../src/store/block_cache_store.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import { RedisStore } from "../src/store/redis_store.ts";
import { FailureModeStore } from "../src/store/failure_mode_store.ts";
import { freePort } from "./_helpers/redis_server.ts";

const silent = createLogger({ write: () => {} });

function stackOf(env: Record<string, string>, redis: boolean) {
  const config = parseConfig(env, { hostname: "test" });
  // The constructors do no I/O: a client that is never called is enough to see the order.
  const inner = redis ? new RedisStore({ client: {} as RedisClient }) : undefined;
  return createStoreStack({
    config,
    redis: inner,
    events: new MemoryEvents(),
    liveNodes: () => 1,
    metrics: createMetrics({ nodeId: "test" }),
    logger: silent,
  });
}

Deno.test("createStoreStack() builds the embedded store alone without Redis", async () => {
  const store = stackOf({}, false);
  assert.ok(store instanceof MemoryStore);
  await store.close();
});

Deno.test("createStoreStack() puts the block cache outside the failure mode around the Redis store", () => {
  assert.ok(stackOf({ RATELIMITER_BLOCK_CACHE: "true" }, true) instanceof BlockCacheStore);
  assert.ok(stackOf({ RATELIMITER_BLOCK_CACHE: "false" }, true) instanceof FailureModeStore);
});

Deno.test("createNode() builds an embedded node that serves, and close() drains it once", async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ write: (line) => lines.push(JSON.parse(line)) });
  const port = freePort();
  const grpcPort = freePort();
  const config = parseConfig({
    RATELIMITER_NODE_PORT: String(port),
    RATELIMITER_GRPC_PORT: String(grpcPort),
    RATELIMITER_LISTEN_HOST: "127.0.0.1",
    RATELIMITER_NODE_ID: "solo",
  });
  const node = await createNode(config, { logger });
  assert.equal(node.store.kind, "memory");
  assert.equal(node.registry.liveNodeCount(), 1);
  await node.serve();
  assert.equal(node.grpcPort, grpcPort);
  const res = await fetch(`http://127.0.0.1:${port}/check`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ key: "k", limit: 1 }),
  });
  assert.equal(res.status, 200);
  await res.body?.cancel();
  const closing = node.close("test");
  assert.equal(node.close("again"), closing, "one close, however often it is called");
  await closing;
  await node.finished;
  const events = lines.map((l) => l.event);
  assert.deepEqual(events, [
    "admin_api_open",
    "store_memory",
    "listening",
    "grpc_listening",
    "shutdown_started",
    "shutdown_complete",
  ]);
  assert.equal(lines.at(-1)!.signal, "test");
  assert.equal(lines.at(-1)!.in_flight, "drained");
});

Deno.test("createNode() loads RATELIMITER_RULES_FILE into node.rules, and refuses an invalid one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/rules.yaml`;
    await Deno.writeTextFile(
      path,
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 7}\n",
    );
    const config = parseConfig({ RATELIMITER_RULES_FILE: path, RATELIMITER_NODE_ID: "rules" });
    const node = await createNode(config, { logger: silent });
    assert.equal(node.rules.current().match("d", [{ key: "k", value: "v" }])?.limit, 7);
    await node.close("test");

    await Deno.writeTextFile(path, "domain: d\ndescriptors:\n  - key: ''\n");
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ write: (line) => lines.push(JSON.parse(line)) });
    await assert.rejects(createNode(config, { logger }), NodeStartError);
    const line = lines.find((l) => l.event === "invalid_rules");
    assert.deepEqual(line?.issues, [`${path}, document 1, descriptors[0].key: must not be empty`]);
    assert.ok(!lines.some((l) => l.event === "store_memory"), "nothing opened before the rules");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve() refuses to start when the gRPC port is taken, logging listen_failed", async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ write: (line) => lines.push(JSON.parse(line)) });
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const config = parseConfig({
      RATELIMITER_NODE_PORT: String(freePort()),
      RATELIMITER_GRPC_PORT: String((taken.addr as Deno.NetAddr).port),
      RATELIMITER_LISTEN_HOST: "127.0.0.1",
      RATELIMITER_NODE_ID: "grpc-taken",
    });
    const node = await createNode(config, { logger });
    await assert.rejects(node.serve(), NodeStartError);
    const failed = lines.find((l) => l.event === "listen_failed");
    assert.equal(failed?.port, (taken.addr as Deno.NetAddr).port);
  } finally {
    taken.close();
  }
});
