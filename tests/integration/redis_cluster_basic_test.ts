/**
 * The service's Redis parts on a small real Redis Cluster (3 masters, no replicas, started on
 * loopback by the test): checks routed by slot and exact, batches split by node and answered in
 * order, counters paged and counted across every master, internal keys on one slot, events heard
 * across nodes, scripts reloaded on the node that lost them.
 */
import assert from "node:assert/strict";
import { startRedisCluster } from "../_helpers/redis_cluster.ts";
import { createRedisClient, type RedisClient } from "../../src/redis/client.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { RedisOverrideStore } from "../../src/cluster/redis_override_store.ts";
import { RedisRegistry } from "../../src/cluster/redis_registry.ts";
import { RedisEvents } from "../../src/cluster/redis_events.ts";
import { RedisActiveCounters } from "../../src/cluster/redis_active_counters.ts";
import { counterKey, internalKeyPrefix } from "../../src/store/keys.ts";
import type { LimitRequest } from "../../src/limiter/types.ts";
import { ALGORITHMS } from "../../src/limiter/types.ts";
import { waitFor } from "../_helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

function request(key: string, algorithm: LimitRequest["algorithm"] = "fixed_window"): LimitRequest {
  return { key, algorithm, limit: 5, windowMs: 60_000, cost: 1 } as LimitRequest;
}

async function clusterClient(seedUrls: string): Promise<RedisClient> {
  return await createRedisClient({ mode: "cluster", urls: seedUrls.split(",") });
}

/** Keys `prefix0…prefixN-1` and the set of masters their counters live on. */
function spreadKeys(client: RedisClient, prefix: string, n: number) {
  const keys = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const nodes = new Set(keys.map((k) => client.nodeOf(counterKey("rl", "fixed_window", k))));
  return { keys, nodes };
}

Deno.test(
  "cluster: checks are exact per key on every master, batches answer in order",
  opts,
  async () => {
    await using cluster = await startRedisCluster({ masters: 3 });
    const client = await clusterClient(cluster.seedUrls);
    try {
      const store = new RedisStore({ client });
      await store.init();
      const { keys, nodes } = spreadKeys(client, "exact:", 30);
      assert.equal(nodes.size, 3, "the keys spread over all three masters");
      for (const algorithm of ALGORITHMS) {
        const outcomes = await Promise.all(
          keys.flatMap((k) =>
            Array.from({ length: 8 }, () => store.check([request(`${algorithm}:${k}`, algorithm)]))
          ),
        );
        const allowed = new Map<number, number>();
        outcomes.forEach((o, i) => {
          const k = Math.floor(i / 8);
          if (o.allowed) allowed.set(k, (allowed.get(k) ?? 0) + 1);
        });
        for (let k = 0; k < keys.length; k++) {
          assert.equal(allowed.get(k), 5, `${algorithm} key ${k}: exactly the limit allowed`);
        }
      }
      // A batch across masters: answers in the batch's order (each group's own count).
      const batch = keys.map((k, i) => [{ ...request(`batch:${k}`), limit: 100, cost: i + 1 }]);
      const answers = await store.checkMany(batch);
      answers.forEach((a, i) => assert.equal(a.decisions[0]!.count, i + 1, `group ${i} in order`));
      // A multi-limit check on one slot tag is atomic there.
      const multi = await store.check([request("{t1}:a"), request("{t1}:b")]);
      assert.equal(multi.decisions.length, 2);
    } finally {
      await client.close();
    }
  },
);

Deno.test("cluster: counters are paged and counted across every master", opts, async () => {
  await using cluster = await startRedisCluster({ masters: 3 });
  const client = await clusterClient(cluster.seedUrls);
  try {
    const store = new RedisStore({ client });
    const { keys } = spreadKeys(client, "page:", 45);
    await store.checkMany(keys.map((k) => [request(k)]));
    const seen: string[] = [];
    const cursors: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listCounters({ limit: 7, ...(cursor ? { cursor } : {}) });
      seen.push(...page.counters.map((c) => c.key));
      cursor = page.nextCursor;
      if (cursor !== undefined) cursors.push(cursor);
    } while (cursor !== undefined);
    assert.deepEqual([...new Set(seen)].sort(), [...keys].sort());
    const named = new Set(cursors.map((c) => c.replace(/-\d+-\d+$/, "")));
    assert.equal(named.size, 3, `cursors name every master: ${[...named].join(" ")}`);
    await assert.rejects(store.listCounters({ limit: 5, cursor: "12-0" }), RangeError);
    await assert.rejects(store.listCounters({ limit: 5, cursor: "nohost-1-0" }), RangeError);
    assert.equal(await store.countCounters(), keys.length);
    assert.equal(await store.reset(keys[0]!), true);
    assert.equal(await store.countCounters(), keys.length - 1);

    const active = new RedisActiveCounters({
      client,
      prefix: "rl",
      internalPrefix: internalKeyPrefix("rl", true),
      instance: "i1",
      set: () => {},
      scanCount: 10,
      scansPerTick: 100,
    });
    // deno-lint-ignore no-explicit-any
    assert.equal(await (active as any).count(), keys.length - 1);
  } finally {
    await client.close();
  }
});

Deno.test(
  "cluster: overrides, registry and events work with hash-tagged internal keys",
  opts,
  async () => {
    await using cluster = await startRedisCluster({ masters: 3 });
    const a = await clusterClient(cluster.seedUrls);
    const b = await clusterClient(cluster.seedUrls);
    const prefix = internalKeyPrefix("rl", true);
    const eventsA = await RedisEvents.connect({ client: a });
    const eventsB = await RedisEvents.connect({ client: b });
    const storeA = new RedisOverrideStore({
      client: a,
      prefix,
      events: eventsA,
      pollIntervalMs: 0,
    });
    const storeB = new RedisOverrideStore({
      client: b,
      prefix,
      events: eventsB,
      pollIntervalMs: 0,
    });
    try {
      await storeA.start();
      await storeB.start();
      const heard: string[] = [];
      eventsB.subscribe((event) => heard.push(`${event.type}:${event.key}`));
      await storeA.set("user:1", { limit: 7, windowMs: 1000 });
      await waitFor("the override on node B", () => storeB.get("user:1")?.limit === 7, 5000);
      assert.deepEqual(heard, ["override_changed:user:1"]);
      assert.equal((await storeB.list()).length, 1);

      const registry = new RedisRegistry({ client: a, prefix });
      const registered = await registry.register(
        { id: "n1", instance: "x", address: "h:1", version: "v" },
        { ttlMs: 10_000, keepMs: 100_000 },
      );
      assert.equal(registered.ok, true);
      assert.equal(
        (await new RedisRegistry({ client: b, prefix }).list({ ttlMs: 10_000, keepMs: 100_000 }))
          .records.length,
        1,
      );
    } finally {
      await storeA.close();
      await storeB.close();
      await eventsA.close();
      await eventsB.close();
      await a.close();
      await b.close();
    }
  },
);

Deno.test(
  "cluster: a master that lost its scripts gets them again (NOSCRIPT reloads there)",
  opts,
  async () => {
    await using cluster = await startRedisCluster({ masters: 3 });
    const client = await clusterClient(cluster.seedUrls);
    try {
      const store = new RedisStore({ client });
      await store.init();
      const { keys } = spreadKeys(client, "noscript:", 12);
      for (const master of await cluster.masters()) await master.cli("SCRIPT", "FLUSH");
      const outcomes = await store.checkMany(keys.map((k) => [request(k)]));
      assert.ok(outcomes.every((o) => o.allowed && o.decisions[0]!.count === 1));
    } finally {
      await client.close();
    }
  },
);
