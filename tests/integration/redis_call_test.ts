/**
 * Error replies of a real Redis that mean "cannot serve now" (`OOM`, `BUSY`) become
 * {@linkcode StoreUnavailableError} in `redisCall`, so the management API answers 503, not 500;
 * other error replies stay distinguishable (a 500 in the API).
 *
 * @module
 */
import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../src/errors.ts";
import { RedisOverrideStore } from "../../src/cluster/redis_override_store.ts";
import { createRedisClient, type RedisClient } from "../../src/redis/client.ts";
import { redisCall } from "../../src/redis/call.ts";
import { RedisScript } from "../../src/redis/script.ts";
import { isErrorReply, replyCode } from "../../src/redis/errors.ts";
import { NodeRegistry } from "../../src/cluster/node_registry.ts";
import { RedisRegistry } from "../../src/cluster/redis_registry.ts";
import { makeTestApp } from "../_helpers/app.ts";
import { startRedis, type TestRedis } from "../_helpers/redis_server.ts";
import { waitFor } from "../_helpers/wait.ts";
import { integration as opts } from "../_helpers/options.ts";

/** An app whose overrides and node registry live in `client`'s Redis. */
function redisApp(client: RedisClient) {
  const overrideStore = new RedisOverrideStore({ client, pollIntervalMs: 0 });
  const registry = new NodeRegistry({
    backend: new RedisRegistry({ client }),
    id: "n1",
    address: "127.0.0.1:1",
    ttlSeconds: 10,
    heartbeatSeconds: 5,
  });
  const { app, metrics } = makeTestApp({ overrideStore, registry });
  return { app, metrics, overrideStore };
}

async function call(app: ReturnType<typeof redisApp>["app"], method: string, path: string) {
  const init: RequestInit = { method };
  if (method === "PUT") {
    init.headers = { "content-type": "application/json" };
    init.body = JSON.stringify({ limit: 5, window_ms: 1000 });
  }
  const res = await app.request(path, init);
  return { status: res.status, body: await res.json(), retryAfter: res.headers.get("retry-after") };
}

/** Fills Redis under `maxmemory 1mb` + `noeviction` until a write is refused with OOM. */
async function fillToOom(redis: TestRedis, client: RedisClient): Promise<void> {
  assert.equal(await redis.cli("CONFIG", "SET", "maxmemory-policy", "noeviction"), "OK");
  assert.equal(await redis.cli("CONFIG", "SET", "maxmemory", "1mb"), "OK");
  const chunk = "x".repeat(64 * 1024);
  for (let i = 0; i < 64; i++) {
    try {
      await client.sendCommand(["SET", `fill:${i}`, chunk]);
    } catch (error) {
      assert.equal(replyCode(error), "OOM", String(error));
      return;
    }
  }
  assert.fail("Redis never refused a write under maxmemory 1mb");
}

Deno.test({
  name: "redisCall() turns OOM into StoreUnavailableError and keeps a wrong command as it is",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const wrong = await redisCall(client, ["NOSUCHCOMMAND"]).catch((e) => e);
      assert.ok(isErrorReply(wrong), String(wrong));
      assert.equal(replyCode(wrong), "ERR");
      const script = new RedisScript("return redis.call('SET', KEYS[1], ARGV[1])");
      assert.equal(await script.run(client, ["k"], ["v"]), "OK");
      await fillToOom(redis, client);
      const oom = await script.run(client, ["k2"], ["v"]).catch((e) => e);
      assert.ok(oom instanceof StoreUnavailableError, String(oom));
      assert.equal(replyCode(oom.cause), "OOM");
      const direct = await redisCall(client, ["SET", "k3", "v"]).catch((e) => e);
      assert.ok(direct instanceof StoreUnavailableError, String(direct));
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "PUT /api/limits/{key} answers 503 JSON, not 500, when Redis is out of memory",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const { app, overrideStore } = redisApp(client);
    try {
      await overrideStore.start();
      assert.equal((await call(app, "PUT", "/api/limits/before")).status, 200);
      await fillToOom(redis, client);
      const res = await call(app, "PUT", "/api/limits/x");
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error.code, "store_unavailable");
      assert.equal(res.retryAfter, "1");
      assert.equal(await redis.cli("HEXISTS", "rl:overrides", "x"), "0");
      // Reads and deletes still work: only writes that need memory are refused.
      assert.equal((await call(app, "GET", "/api/limits/before")).status, 200);
      assert.equal((await call(app, "DELETE", "/api/limits/before")).status, 200);
    } finally {
      await overrideStore.close();
      await client.close();
    }
  },
});

Deno.test({
  name: "the management API answers 503 JSON, not 500, while Redis is BUSY running a script",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const blocker = await createRedisClient(redis.url);
    const { app, metrics, overrideStore } = redisApp(client);
    let loop: Promise<unknown> | undefined;
    try {
      await overrideStore.start();
      assert.equal((await call(app, "PUT", "/api/limits/before")).status, 200);
      assert.equal(await redis.cli("CONFIG", "SET", "busy-reply-threshold", "50"), "OK");
      loop = blocker.sendCommand(["EVAL", "while true do end", "0"]).catch((e) => e);
      await waitFor("Redis to answer BUSY", async () => {
        const reply = await redis.cli("PING");
        return reply.startsWith("BUSY");
      });
      for (
        const [method, path] of [
          ["PUT", "/api/limits/x"],
          ["GET", "/api/limits/before"],
          ["GET", "/api/limits"],
          ["DELETE", "/api/limits/before"],
          ["GET", "/api/nodes"],
        ]
      ) {
        const res = await call(app, method!, path!);
        assert.equal(res.status, 503, `${method} ${path}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, "store_unavailable");
      }
      const text = await metrics.render();
      assert.match(text, /ratelimiter_store_errors_total\{[^}]*kind="unavailable"[^}]*\} 5/);
      assert.match(await redis.cli("SCRIPT", "KILL"), /^OK/);
      const ended = await loop;
      assert.ok(isErrorReply(ended), String(ended));
      // Once the script is killed, the same calls succeed again.
      assert.equal((await call(app, "GET", "/api/limits/before")).status, 200);
      assert.equal((await call(app, "GET", "/api/nodes")).status, 200);
    } finally {
      await redis.cli("SCRIPT", "KILL"); // NOTBUSY when already killed
      await loop;
      await overrideStore.close();
      await client.close();
      await blocker.close();
    }
  },
});

Deno.test({
  name:
    "the registry's scripts under OOM: a registration is refused whole, list and deregister answer",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const backend = new RedisRegistry({ client });
    const timing = { ttlMs: 10_000, keepMs: 100_000 };
    const request = (id: string) => ({ id, address: "127.0.0.1:1", version: "t", instance: id });
    try {
      assert.equal((await backend.register(request("a"), timing)).ok, true);
      await fillToOom(redis, client);
      const refused = await backend.register(request("b"), timing).catch((e) => e);
      assert.ok(refused instanceof StoreUnavailableError, String(refused));
      assert.equal(replyCode(refused.cause), "OOM");
      assert.equal(await redis.cli("HEXISTS", "rl:nodes", "b"), "0");
      // Reads and deletes free memory or need none: they still answer.
      assert.deepEqual((await backend.list(timing)).records.map((r) => r.id), ["a"]);
      assert.equal(await backend.deregister("a", "a"), true);
    } finally {
      await client.close();
    }
  },
});
