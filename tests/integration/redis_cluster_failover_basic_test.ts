/**
 * The cluster connection through a failover (3 masters + 3 replicas on loopback): a master killed
 * with SIGKILL never sends MOVED, so the client must refresh the slot map by itself once its
 * connection fails; the keys of the other masters keep their exact answers meanwhile, and once
 * the replica is promoted the dead master's keys are answered again, by the same client.
 */
import assert from "node:assert/strict";
import { startRedisCluster } from "../_helpers/redis_cluster.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { ClusterClient } from "../../src/redis/cluster.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { counterKey } from "../../src/store/keys.ts";
import type { LimitRequest } from "../../src/limiter/types.ts";
import { waitFor } from "../_helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

function request(key: string): LimitRequest {
  return {
    key,
    algorithm: "fixed_window",
    limit: 1000,
    windowMs: 600_000,
    cost: 1,
  } as LimitRequest;
}

Deno.test(
  "cluster: after kill -9 of a master, its keys are answered again once its replica is promoted",
  opts,
  async () => {
    await using cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    const client = await createRedisClient({ mode: "cluster", urls: cluster.seedUrls.split(",") });
    try {
      const store = new RedisStore({ client });
      await store.init();
      const keys = Array.from({ length: 30 }, (_, i) => `fo:${i}`);
      await store.checkMany(keys.map((k) => [request(k)]));
      const victim = (await cluster.masters())[0]!;
      const victimAddress = `127.0.0.1:${victim.port}`;
      const onVictim = keys.filter((k) =>
        client.nodeOf(counterKey("rl", "fixed_window", k)) === victimAddress
      );
      const elsewhere = keys.filter((k) => !onVictim.includes(k));
      assert.ok(onVictim.length > 0 && elsewhere.length > 0);

      await cluster.killMaster(victim);
      // The other masters' keys keep their exact counts while the victim is down.
      const during = await store.checkMany(elsewhere.map((k) => [request(k)]));
      assert.ok(during.every((o) => o.decisions[0]!.count === 2), "other masters answer exactly");
      await cluster.waitForPromotion(victim);
      // The same client finds the promoted replica (no MOVED ever came from the dead node).
      await waitFor(
        "the victim's keys answered again",
        async () => {
          try {
            await store.check([request(onVictim[0]!)]);
            return true;
          } catch {
            return false;
          }
        },
        15_000,
        100,
      );
      assert.notEqual(client.nodeOf(counterKey("rl", "fixed_window", onVictim[0]!)), victimAddress);
      // The replica had the counts (replicated before the kill): nothing was lost for idle keys.
      const after = await store.checkMany(onVictim.slice(1).map((k) => [request(k)]));
      assert.ok(
        after.every((o) => o.decisions[0]!.count === 2),
        "promoted replica holds the counts",
      );
    } finally {
      await client.close();
    }
  },
);

Deno.test(
  "cluster: events still arrive after the node the subscriber listened on was killed",
  opts,
  async () => {
    await using cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    const urls = cluster.seedUrls.split(",");
    const publisher = await createRedisClient({ mode: "cluster", urls });
    const subscriber = new ClusterClient(urls, {
      name: "t",
      connectTimeoutMs: 2000,
      retryWithinMs: 0,
    });
    const heard: string[] = [];
    try {
      await subscriber.connect();
      await subscriber.subscribe("rl:events", (message) => heard.push(message));
      await publisher.sendCommand(["PUBLISH", "rl:events", "before"]);
      await waitFor("the event before the kill", () => heard.includes("before"), 5000);
      const address = subscriber.pubSubAddress();
      const victim = (await cluster.masters()).find((m) => `127.0.0.1:${m.port}` === address);
      assert.ok(victim !== undefined, `the subscriber listens on a master (${address})`);
      await cluster.killMaster(victim);
      await cluster.waitForPromotion(victim);
      // Each ask is a new message: pub/sub keeps none for a subscriber that is reconnecting.
      let n = 0;
      await waitFor(
        "an event after the kill",
        async () => {
          await publisher.sendCommand(["PUBLISH", "rl:events", `after-${++n}`]).catch(() => {});
          return heard.some((m) => m.startsWith("after-"));
        },
        20_000,
        250,
      );
      assert.notEqual(subscriber.pubSubAddress(), address);
    } finally {
      await subscriber.close();
      await publisher.close();
    }
  },
);
