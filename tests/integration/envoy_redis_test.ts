/**
 * The Envoy protocol's conformance table on Redis: the gRPC server in-process on the Redis store
 * stack as a node builds it (breaker, failure mode, block cache), a real gRPC client over loopback.
 *
 * @module
 */
import assert from "node:assert/strict";
import { MemoryEvents } from "../../src/cluster/memory_events.ts";
import { silentLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { parseConfig } from "../../src/config.ts";
import { createStoreStack } from "../../src/node.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { integration as opts } from "../_helpers/options.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { CONFORMANCE_RULES, runConformance } from "../envoy/_conformance.ts";
import { startTestRls } from "../envoy/_server.ts";

Deno.test({
  name: "Envoy protocol conformance over gRPC, on Redis (the node's store stack)",
  ...opts,
  async fn(t) {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const inner = new RedisStore({ client });
      await inner.init();
      const store = createStoreStack({
        config: parseConfig({ RATELIMITER_REDIS_URL: redis.url }),
        redis: inner,
        events: new MemoryEvents(),
        liveNodes: () => 1,
        metrics: createMetrics({ nodeId: "test", defaultMetrics: false }),
        logger: silentLogger,
      });
      await using rls = await startTestRls({ rules: CONFORMANCE_RULES, store });
      await runConformance(t, rls.client);
      // The table's counters are in Redis (in the `/check` key space), not in some local state.
      const [, keys] = await client.sendCommand<[string, string[]]>(
        ["SCAN", "0", "MATCH", "rl:*:{rls:basic/user=alice}", "COUNT", "1000"],
      );
      assert.deepEqual(keys, ["rl:fw:{rls:basic/user=alice}"]);
    } finally {
      await client.close();
    }
  },
});
