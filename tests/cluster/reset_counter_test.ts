import assert from "node:assert/strict";
import type { ClusterEvent } from "../../src/cluster/events.ts";
import { MemoryEvents } from "../../src/cluster/memory_events.ts";
import { resetCounter } from "../../src/cluster/reset_counter.ts";
import { StoreUnavailableError } from "../../src/errors.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";

Deno.test("resetCounter() resets the key in the store, then announces counter_reset", async () => {
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  const request = { key: "k", algorithm: "sliding_log" as const, limit: 1, windowMs: 60_000 };
  await store.check([{ ...request, cost: 1 }]);
  const events = new MemoryEvents();
  const seen: [ClusterEvent, number][] = [];
  events.subscribe((e) => seen.push([e, store.size]));
  assert.equal(await resetCounter("k", { store, events }), true);
  assert.deepEqual(seen, [[{ type: "counter_reset", key: "k" }, 0]], "announced after the reset");
  assert.equal(await resetCounter("k", { store, events }), false);
  assert.equal(seen.length, 2, "a reset of a key without state is announced too");
});

Deno.test("resetCounter() announces nothing when the store cannot reset", async () => {
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  store.reset = () => Promise.reject(new StoreUnavailableError("Redis did not answer"));
  const events = new MemoryEvents();
  const seen: ClusterEvent[] = [];
  events.subscribe((e) => seen.push(e));
  await assert.rejects(() => resetCounter("k", { store, events }), StoreUnavailableError);
  assert.deepEqual(seen, []);
});
