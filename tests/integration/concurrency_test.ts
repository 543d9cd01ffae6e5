import assert from "node:assert/strict";
import { createApp } from "../../src/http/app.ts";
import { parseConfig } from "../../src/config.ts";
import { noOverrides } from "../../src/limiter/resolve.ts";
import { silentLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import type { Store } from "../../src/store/types.ts";
import { postJson, startNode } from "../_helpers/node_process.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

function serve(store: Store) {
  const config = parseConfig({}, { hostname: "concurrency" });
  const metrics = createMetrics({ nodeId: config.nodeId, defaultMetrics: false });
  const app = createApp({ config, store, metrics, logger: silentLogger, overrides: noOverrides });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  return { server, url: `http://127.0.0.1:${server.addr.port}` };
}

async function burst(urls: string[], n: number, body: unknown): Promise<Map<number, number>> {
  const statuses = await Promise.all(
    Array.from({ length: n }, (_, i) => postJson(`${urls[i % urls.length]}/check`, body)),
  );
  const counts = new Map<number, number>();
  for (const { status } of statuses) counts.set(status, (counts.get(status) ?? 0) + 1);
  return counts;
}

Deno.test({
  name: "200 simultaneous checks with limit 50 over real HTTP allow exactly 50 (Redis store)",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const { server, url } = serve(new RedisStore({ client }));
    try {
      const counts = await burst([url], 200, { key: "hot", limit: 50, window_ms: 60_000 });
      assert.equal(counts.get(200), 50);
      assert.equal(counts.get(429), 150);
    } finally {
      await server.shutdown();
      await client.close();
    }
  },
});

Deno.test({
  name: "200 simultaneous checks with limit 50 over real HTTP allow exactly 50 (embedded store)",
  ...opts,
  async fn() {
    const store = new MemoryStore();
    const { server, url } = serve(store);
    try {
      const counts = await burst([url], 200, { key: "hot", limit: 50, window_ms: 60_000 });
      assert.equal(counts.get(200), 50);
      assert.equal(counts.get(429), 150);
    } finally {
      await server.shutdown();
      await store.close();
    }
  },
});

Deno.test({
  name:
    "three main.ts nodes on one Redis: 300 simultaneous requests with limit 100 allow exactly 100",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    // These tests are about atomicity, not outages: a generous store deadline keeps a loaded
    // machine from tripping the breaker and answering in the (inexact) open failure mode.
    const env = { RATELIMITER_REDIS_URL: redis.url, RATELIMITER_STORE_TIMEOUT_MS: "5000" };
    const nodes = await Promise.all([startNode({ env }), startNode({ env }), startNode({ env })]);
    try {
      const counts = await burst(nodes.map((n) => n.url), 300, {
        key: "shared",
        limit: 100,
        window_ms: 60_000,
      });
      assert.equal(counts.get(200), 100);
      assert.equal(counts.get(429), 200);
      const exit = await Promise.all(nodes.map((n) => n.stop("SIGTERM")));
      assert.deepEqual(exit, [0, 0, 0]);
    } finally {
      await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    }
  },
});
