import assert from "node:assert/strict";
import { createRedisClient } from "../../src/redis/client.ts";
import { NodeRegistry } from "../../src/cluster/node_registry.ts";
import { RedisRegistry } from "../../src/cluster/redis_registry.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { runRegistryCases } from "../cluster/_registry_cases.ts";
import { integration as opts } from "../_helpers/options.ts";

Deno.test({
  name: "NodeRegistry follows the registry rules on RedisRegistry",
  ...opts,
  async fn(t) {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    let n = 0;
    try {
      await runRegistryCases(
        t,
        (clock) => new RedisRegistry({ client, prefix: `case${n++}`, clock }),
      );
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisRegistry keeps one hash with a 10 × TTL expiry, on Redis TIME",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const registry = new NodeRegistry({
        backend: new RedisRegistry({ client, prefix: "rl" }),
        id: "node-1",
        address: "127.0.0.1:8001",
        ttlSeconds: 3,
        heartbeatSeconds: 1,
        autoHeartbeat: false,
      });
      const before = Date.now();
      await registry.start();
      assert.equal(await redis.cli("--raw", "KEYS", "*"), "rl:nodes");
      const ttl = Number(await redis.cli("PTTL", "rl:nodes"));
      assert.ok(ttl > 29_000 && ttl <= 30_000, `ttl ${ttl}`);
      const record = JSON.parse(await redis.cli("--raw", "HGET", "rl:nodes", "node-1"));
      assert.equal(record.address, "127.0.0.1:8001");
      assert.equal(record.instance, registry.instance);
      // Redis TIME and this process's clock are the same machine's clock here.
      assert.ok(Math.abs(record.last_heartbeat_at - before) < 5000);
      const [listed] = await registry.list();
      assert.equal(listed!.state, "Up");
      await registry.stop();
      assert.equal(await redis.cli("HLEN", "rl:nodes"), "0");
    } finally {
      await client.close();
    }
  },
});
