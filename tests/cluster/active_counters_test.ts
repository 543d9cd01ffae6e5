import assert from "node:assert/strict";
import { MemoryActiveCounters } from "../../src/cluster/memory_active_counters.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";

Deno.test("MemoryActiveCounters counts the embedded store's counters", async () => {
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  for (let i = 0; i < 7; i++) {
    await store.check([{
      key: `k${i}`,
      algorithm: "sliding_log",
      limit: 1,
      windowMs: 60_000,
      cost: 1,
    }]);
  }
  const seen: number[] = [];
  const counters = new MemoryActiveCounters({ store, set: (n) => seen.push(n) });
  await counters.tick();
  assert.deepEqual(seen, [7]);
});

Deno.test("ActiveCounters.start() counts at once, never overlaps itself, and stops", async () => {
  let running = 0;
  let overlapped = false;
  let calls = 0;
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  store.countCounters = async () => {
    running++;
    if (running > 1) overlapped = true;
    calls++;
    await new Promise((r) => setTimeout(r, 30));
    running--;
    return calls;
  };
  const seen: number[] = [];
  const counters = new MemoryActiveCounters({ store, set: (n) => seen.push(n), intervalMs: 1 });
  counters.start();
  counters.start();
  await new Promise((r) => setTimeout(r, 200));
  await counters.stop();
  const after = calls;
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(overlapped, false);
  assert.ok(after >= 2, `ticked ${after} times`);
  assert.equal(calls, after, "no tick after stop()");
  assert.deepEqual(seen, Array.from({ length: after }, (_, i) => i + 1));
});
