/**
 * The sentinel connection on a real setup (master + 2 replicas + 3 sentinels on loopback): checks
 * follow the master through `SENTINEL FAILOVER`, a kill -9 of the master and a restart of every
 * sentinel, the scripts are loaded again on each new master (NOSCRIPT path), and events reach a
 * subscriber before and after.
 */
import assert from "node:assert/strict";
import { startRedisSentinel } from "../_helpers/redis_sentinel.ts";
import { createRedisClient, type RedisClient } from "../../src/redis/client.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { RedisEvents } from "../../src/cluster/redis_events.ts";
import type { LimitRequest } from "../../src/limiter/types.ts";
import { waitFor } from "../_helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

function request(key: string): LimitRequest {
  return { key, algorithm: "fixed_window", limit: 1000, windowMs: 600_000, cost: 1 };
}

/**
 * Waits until checks on `key` are answered by the master on `port` (the one the sentinels name
 * now), then checks that two checks in a row count up by one there. A failover may lose the last
 * writes (replication is asynchronous), so counts across it are not compared.
 */
async function followsMaster(
  client: RedisClient,
  store: RedisStore,
  key: string,
  port: number,
): Promise<void> {
  await waitFor(
    `checks on ${key} answered by the master on port ${port}`,
    async () => {
      try {
        await store.check([request(key)]);
        const info = await client.sendCommand<string>(["INFO", "server"]);
        return info.includes(`tcp_port:${port}\r\n`);
      } catch {
        return false;
      }
    },
    20_000,
    100,
  );
  const first = (await store.check([request(key)])).decisions[0]!.count;
  const second = (await store.check([request(key)])).decisions[0]!.count;
  assert.equal(second, first + 1, "consecutive checks count up by one on the master");
}

Deno.test(
  "sentinel: checks follow the master through failover, kill -9 and a restart of every sentinel",
  opts,
  async () => {
    await using setup = await startRedisSentinel({ replicas: 2 });
    let client: RedisClient | undefined;
    let events: RedisEvents | undefined;
    try {
      client = await createRedisClient({
        mode: "sentinel",
        urls: setup.sentinelUrls.split(","),
        sentinelMaster: setup.masterName,
      }, { connectTimeoutMs: 10_000 });
      const store = new RedisStore({ client });
      await store.init();
      events = await RedisEvents.connect({ client });
      const heard: string[] = [];
      events.subscribe((e) => heard.push(e.key));
      await followsMaster(client, store, "s:1", (await setup.master()).port);
      await events.publish({ type: "counter_reset", key: "before" });
      await waitFor("the event before failover", () => heard.includes("before"), 5000);

      const first = await setup.master();
      const promoted = await setup.failover();
      assert.notEqual(promoted.port, first.port);
      await followsMaster(client, store, "s:1", promoted.port);

      const { promoted: second } = await setup.killMaster();
      await followsMaster(client, store, "s:1", second.port);

      await setup.restartSentinels();
      const master = await setup.waitForAgreement();
      await followsMaster(client, store, "s:1", master.port);
      const third = await setup.failover();
      await followsMaster(client, store, "s:1", third.port);

      await waitFor(
        "an event after the failovers",
        async () => {
          await events!.publish({ type: "counter_reset", key: "after" }).catch(() => {});
          return heard.includes("after");
        },
        20_000,
        200,
      );
    } finally {
      await events?.close();
      await client?.close();
    }
  },
);

Deno.test(
  "sentinel: while every sentinel is down the master keeps answering, and failovers are followed once they are back",
  opts,
  async () => {
    await using setup = await startRedisSentinel({ replicas: 2 });
    let client: RedisClient | undefined;
    try {
      client = await createRedisClient({
        mode: "sentinel",
        urls: setup.sentinelUrls.split(","),
        sentinelMaster: setup.masterName,
      }, { connectTimeoutMs: 10_000 });
      const store = new RedisStore({ client });
      const master = await setup.master();
      await followsMaster(client, store, "d:1", master.port);
      await Promise.all(setup.sentinels.map((s) => s.kill()));
      // Longer than node-redis's reconnect attempts and the wrapper's stuck watchdog.
      await new Promise((r) => setTimeout(r, 8000));
      await followsMaster(client, store, "d:1", master.port);
      for (const s of setup.sentinels) await s.restart();
      await setup.waitForAgreement();
      const promoted = await setup.failover();
      await followsMaster(client, store, "d:1", promoted.port);
    } finally {
      await client?.close();
    }
  },
);
