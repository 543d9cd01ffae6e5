import assert from "node:assert/strict";
import { createManualClock } from "../_helpers/manual_clock.ts";
import type { ClusterEvent } from "../../src/cluster/events.ts";
import { MemoryEvents } from "../../src/cluster/memory_events.ts";
import { MemoryOverrideStore } from "../../src/cluster/memory_override_store.ts";
import { createLogger } from "../../src/log.ts";
import { OverridesFullError } from "../../src/cluster/override_store.ts";
import { decodeOverride, encodeOverride } from "../../src/cluster/redis_override_store.ts";

Deno.test("MemoryOverrideStore sets, gets, lists by prefix and deletes", async () => {
  const clock = createManualClock();
  const store = new MemoryOverrideStore({ clock });
  await store.start();
  const first = await store.set("user:2", { limit: 5, windowMs: 1000 });
  assert.equal(first.created, true);
  assert.deepEqual(first.entry, { key: "user:2", limit: 5, windowMs: 1000, updatedAt: clock() });
  await store.set("user:1", { limit: 7, windowMs: 2000, algorithm: "sliding_log" });
  await store.set("other", { limit: 1, windowMs: 1 });
  assert.deepEqual(store.get("user:1"), {
    key: "user:1",
    limit: 7,
    windowMs: 2000,
    algorithm: "sliding_log",
    updatedAt: clock(),
  });
  assert.equal(store.get("nope"), undefined);
  assert.deepEqual((await store.list()).map((e) => e.key), ["other", "user:1", "user:2"]);
  assert.deepEqual((await store.list("user:")).map((e) => e.key), ["user:1", "user:2"]);
  clock.advance(10);
  const again = await store.set("user:2", { limit: 6, windowMs: 1000 });
  assert.equal(again.created, false);
  assert.equal(store.get("user:2")?.limit, 6);
  assert.equal(await store.delete("user:2"), true);
  assert.equal(await store.delete("user:2"), false);
  assert.equal(store.get("user:2"), undefined);
});

Deno.test("MemoryOverrideStore refuses a new key past its cap but updates existing ones", async () => {
  const store = new MemoryOverrideStore({ maxOverrides: 2 });
  await store.set("a", { limit: 1, windowMs: 1 });
  await store.set("b", { limit: 1, windowMs: 1 });
  await assert.rejects(() => store.set("c", { limit: 1, windowMs: 1 }), OverridesFullError);
  assert.equal((await store.set("a", { limit: 2, windowMs: 1 })).created, false);
  assert.equal(store.get("c"), undefined);
});

Deno.test("encodeOverride() and decodeOverride() round-trip, dropping unknown algorithms", () => {
  const entry = {
    key: "k",
    limit: 3,
    windowMs: 500,
    algorithm: "sliding_log" as const,
    updatedAt: 9,
  };
  assert.deepEqual(decodeOverride("k", encodeOverride(entry)), entry);
  assert.deepEqual(
    decodeOverride("k", '{"limit":3,"window_ms":500,"algorithm":"future_alg","updated_at":1}'),
    { key: "k", limit: 3, windowMs: 500, updatedAt: 1 },
  );
  const gcra = {
    key: "g",
    limit: 2,
    windowMs: 100,
    algorithm: "gcra" as const,
    burst: 5,
    updatedAt: 3,
  };
  assert.deepEqual(decodeOverride("g", encodeOverride(gcra)), gcra);
  const bucket = {
    key: "t",
    limit: 2,
    windowMs: 100,
    algorithm: "token_bucket" as const,
    refillRate: 7,
    updatedAt: 4,
  };
  assert.deepEqual(decodeOverride("t", encodeOverride(bucket)), bucket);
  assert.equal(decodeOverride("k", "not json"), undefined);
  assert.equal(decodeOverride("k", '{"limit":0,"window_ms":5}'), undefined);
  assert.equal(decodeOverride("k", '{"limit":2}'), undefined);
});

Deno.test("MemoryOverrideStore announces each change it makes, and only those", async () => {
  const events = new MemoryEvents();
  const seen: ClusterEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const store = new MemoryOverrideStore({ events, maxOverrides: 1 });
  await store.set("a", { limit: 1, windowMs: 1000 });
  await store.set("a", { limit: 2, windowMs: 1000 });
  await assert.rejects(() => store.set("b", { limit: 1, windowMs: 1000 }), OverridesFullError);
  assert.equal(await store.delete("a"), true);
  assert.equal(await store.delete("a"), false);
  assert.deepEqual(seen, [
    { type: "override_changed", key: "a" },
    { type: "override_changed", key: "a" },
    { type: "override_changed", key: "a" },
  ]);
});

Deno.test("MemoryOverrideStore logs an event it cannot publish and keeps the change", async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "debug", write: (l) => lines.push(JSON.parse(l)) });
  const events = new MemoryEvents();
  events.publish = () => Promise.reject(new Error("connection refused"));
  const store = new MemoryOverrideStore({ events, logger });
  const { created } = await store.set("a", { limit: 1, windowMs: 1000 });
  assert.equal(created, true);
  assert.equal(store.get("a")?.limit, 1);
  assert.deepEqual(
    lines.map((l) => [l.event, l.type, l.error]),
    [["event_publish_failed", "override_changed", "connection refused"]],
  );
});
