import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../src/errors.ts";
import type { ClusterEvent } from "../../src/cluster/events.ts";
import { RedisEvents } from "../../src/cluster/redis_events.ts";
import { createLogger } from "../../src/log.ts";
import { OverridesFullError } from "../../src/cluster/override_store.ts";
import { RedisOverrideStore } from "../../src/cluster/redis_override_store.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { waitFor } from "../_helpers/wait.ts";
import { integration as opts } from "../_helpers/options.ts";

Deno.test({
  name: "RedisEvents delivers each event to every subscriber, the publisher included",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const a = await RedisEvents.connect({ client, prefix: "rl" });
    const b = await RedisEvents.connect({ client, prefix: "rl" });
    try {
      assert.equal(a.channel, "rl:events");
      const gotA: ClusterEvent[] = [];
      const gotB: ClusterEvent[] = [];
      a.subscribe((e) => gotA.push(e));
      const stopB = b.subscribe((e) => gotB.push(e));
      await a.publish({ type: "override_changed", key: "k/1 {x}" });
      await redis.cli("PUBLISH", "rl:events", "not an event");
      await b.publish({ type: "counter_reset", key: "é" });
      await waitFor("both events on both", () => gotA.length === 2 && gotB.length === 2);
      const expected = [
        { type: "override_changed", key: "k/1 {x}" },
        { type: "counter_reset", key: "é" },
      ];
      assert.deepEqual(gotA, expected);
      assert.deepEqual(gotB, expected);
      stopB();
      await a.publish({ type: "counter_reset", key: "z" });
      await waitFor("a third event on a", () => gotA.length === 3);
      assert.equal(gotB.length, 2);
    } finally {
      await a.close();
      await b.close();
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisEvents resubscribes by itself after Redis restarts",
  ...opts,
  async fn() {
    const redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const events = await RedisEvents.connect({ client, timeoutMs: 500 });
    try {
      const got: string[] = [];
      events.subscribe((e) => got.push(e.key));
      await redis.kill();
      await redis.restart();
      await waitFor(
        "an event after the restart",
        async () => {
          await events.publish({ type: "counter_reset", key: "after" }).catch(() => {});
          return got.includes("after");
        },
        10_000,
        200,
      );
      assert.equal(await redis.cli("PUBSUB", "NUMSUB", "rl:events"), "rl:events\n1");
    } finally {
      await events.close();
      client.destroy();
      await redis.stop();
    }
  },
});

Deno.test({
  name:
    "RedisOverrideStore: a change on one node reaches another by event alone, and by poll alone",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const events = await RedisEvents.connect({ client, prefix: "rl" });
    const writer = new RedisOverrideStore({ client, pollIntervalMs: 0 });
    const byEvent = new RedisOverrideStore({ client, events, pollIntervalMs: 0 });
    const byPoll = new RedisOverrideStore({ client, pollIntervalMs: 100 });
    try {
      await writer.set("before", { limit: 9, windowMs: 900 });
      await Promise.all([writer.start(), byEvent.start(), byPoll.start()]);
      assert.deepEqual(byEvent.get("before"), { limit: 9, windowMs: 900 });

      const result = await writer.set("k/1", {
        limit: 3,
        windowMs: 1000,
        algorithm: "sliding_log",
      });
      assert.equal(result.created, true);
      // The writer applies its own change at once.
      assert.deepEqual(writer.get("k/1"), { limit: 3, windowMs: 1000, algorithm: "sliding_log" });
      await events.publish({ type: "override_changed", key: "k/1" });
      await waitFor("the event-driven copy", () => byEvent.get("k/1")?.limit === 3);
      await waitFor("the polled copy", () => byPoll.get("k/1")?.limit === 3);

      assert.equal(await writer.delete("k/1"), true);
      assert.equal(writer.get("k/1"), undefined);
      await events.publish({ type: "override_changed", key: "k/1" });
      await waitFor("the delete by event", () => byEvent.get("k/1") === undefined);
      await waitFor("the delete by poll", () => byPoll.get("k/1") === undefined);
      assert.equal(await writer.delete("k/1"), false);

      const listed = await byPoll.list();
      assert.deepEqual(listed.map((e) => [e.key, e.limit, e.windowMs]), [["before", 9, 900]]);
      assert.equal(await redis.cli("HEXISTS", "rl:overrides", "before"), "1");
      assert.equal(writer.version, byEvent.version);
    } finally {
      await Promise.all([writer.close(), byEvent.close(), byPoll.close()]);
      await events.close();
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisOverrideStore drops its copy when Redis comes back empty, never reusing a version",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const writer = new RedisOverrideStore({ client, pollIntervalMs: 0 });
    const reader = new RedisOverrideStore({ client, pollIntervalMs: 50 });
    try {
      await writer.start();
      await reader.start();
      await writer.set("a", { limit: 1, windowMs: 1 });
      await waitFor("the first copy", () => reader.get("a") !== undefined);
      const oldVersion = reader.version!;
      assert.equal(await redis.cli("FLUSHALL"), "OK");
      await waitFor("the copy to empty", () => reader.get("a") === undefined);
      // One change after the flush: a plain counter would be back at the same number.
      await writer.set("b", { limit: 2, windowMs: 2 });
      await waitFor("the new copy", () => reader.get("b") !== undefined);
      assert.notEqual(reader.version, oldVersion);
      assert.ok(BigInt(reader.version!) > BigInt(oldVersion));
    } finally {
      await writer.close();
      await reader.close();
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisOverrideStore enforces its cap atomically",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const store = new RedisOverrideStore({ client, pollIntervalMs: 0, maxOverrides: 5 });
    try {
      await store.start();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => store.set(`k${i}`, { limit: 1, windowMs: 1 })),
      );
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 5);
      for (const r of results) {
        if (r.status === "rejected") assert.ok(r.reason instanceof OverridesFullError);
      }
      assert.equal(await redis.cli("HLEN", "rl:overrides"), "5");
      assert.equal((await store.set("k0", { limit: 2, windowMs: 1 })).created, false);
    } finally {
      await store.close();
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisOverrideStore keeps serving its copy through an outage and reports it once",
  ...opts,
  async fn() {
    const redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ write: (l) => lines.push(JSON.parse(l)) });
    const store = new RedisOverrideStore({ client, pollIntervalMs: 50, logger, timeoutMs: 500 });
    try {
      await store.start();
      await store.set("vip", { limit: 5, windowMs: 1000 });
      await redis.kill();
      await waitFor("a failed refresh", () => lines.length > 0);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(lines.map((l) => l.event), ["overrides_refresh_failed"]);
      assert.deepEqual(store.get("vip"), { limit: 5, windowMs: 1000 });
      await assert.rejects(() => store.set("x", { limit: 1, windowMs: 1 }), StoreUnavailableError);
      await assert.rejects(() => store.list(), StoreUnavailableError);
      await redis.restart();
      await waitFor("recovery", () => lines.some((l) => l.event === "overrides_refresh_recovered"));
      // Redis came back empty, so the override is gone everywhere.
      await waitFor("the copy to follow Redis", () => store.get("vip") === undefined);
    } finally {
      await store.close();
      client.destroy();
      await redis.stop();
    }
  },
});

Deno.test({
  name:
    "an override PUT or DELETE through one node's API reaches another node by pub/sub alone (no poll)",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const clientA = await createRedisClient(redis.url);
    const clientB = await createRedisClient(redis.url);
    const eventsA = await RedisEvents.connect({ client: clientA, prefix: "rl" });
    const eventsB = await RedisEvents.connect({ client: clientB, prefix: "rl" });
    // Polling is off on both nodes: only an `override_changed` event can tell B to reload.
    const storeA = new RedisOverrideStore({ client: clientA, events: eventsA, pollIntervalMs: 0 });
    const storeB = new RedisOverrideStore({ client: clientB, events: eventsB, pollIntervalMs: 0 });
    const silent = new RedisOverrideStore({ client: clientA, pollIntervalMs: 0 });
    const nodeA = makeTestApp({ overrideStore: storeA, events: eventsA }).app;
    const nodeB = makeTestApp({ overrideStore: storeB, events: eventsB }).app;
    const limitOnB = async (key: string) => {
      const res = await nodeB.request("/check", jsonRequest({ key, limit: 100 }));
      return (await res.json()).limit;
    };
    try {
      await Promise.all([storeA.start(), storeB.start(), silent.start()]);
      // The control: a change nobody announces stays unseen on B, so the poll is really off.
      await silent.set("unannounced", { limit: 9, windowMs: 1000 });
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(storeB.get("unannounced"), undefined);

      const put = await nodeA.request(
        "/api/limits/tenant%2F1",
        jsonRequest({ limit: 3, window_ms: 60_000 }, { method: "PUT" }),
      );
      assert.equal(put.status, 200, await put.text());
      await waitFor("the PUT to reach node B", () => storeB.get("tenant/1")?.limit === 3, 5000);
      assert.equal(await limitOnB("tenant/1"), 3);
      // B reloaded everything at the new version, the unannounced change included.
      assert.equal(storeB.get("unannounced")?.limit, 9);

      const del = await nodeA.request("/api/limits/tenant%2F1", { method: "DELETE" });
      assert.equal(del.status, 200, await del.text());
      await waitFor("the DELETE to reach node B", () => storeB.get("tenant/1") === undefined, 5000);
      assert.equal(await limitOnB("tenant/1"), 100);
    } finally {
      await Promise.all([storeA.close(), storeB.close(), silent.close()]);
      await Promise.all([eventsA.close(), eventsB.close()]);
      await Promise.all([clientA.close(), clientB.close()]);
    }
  },
});
