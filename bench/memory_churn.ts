/**
 * Churn on the embedded store (issue 9, item 14): new keys as fast as one core takes them, for a
 * fixed time, straight into `MemoryStore.check` (no HTTP). Reports the new keys per second, the
 * keys held (most, at the end, and most beyond those written in the last window), the longest event-loop stall (lag of a 10 ms timer) and the
 * resident memory at the end. The default cap (300,000 keys) is reached within the run on a small
 * machine, so the behaviour at the cap is measured too.
 *
 * The load yields to the event loop every `--batch` checks, so a timer's lag is the longest
 * stretch the store kept the loop busy (a batch of checks, a sweep, a purge, a GC pause).
 *
 *   deno run -A bench/memory_churn.ts                      # 15 s, window 2 s, 300,000-key cap
 *   deno run -A bench/memory_churn.ts --window-ms 60000    # live keys outgrow the cap
 *
 * Run it in another checkout to compare (`cp bench/memory_churn.ts /tmp/base/bench/`): it uses
 * only `new MemoryStore({ maxKeys })`, `check()` and `size`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { MemoryStore } from "../src/store/memory_store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string" },
    "window-ms": { type: "string" },
    "max-keys": { type: "string" },
    batch: { type: "string" },
  },
});
const seconds = Number(values.seconds ?? 15);
const windowMs = Number(values["window-ms"] ?? 2000);
const maxKeys = Number(values["max-keys"] ?? 300_000);
const batch = Number(values.batch ?? 500);

const store = new MemoryStore({ maxKeys });
const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

let maxLagMs = 0;
let lagTimer: ReturnType<typeof setTimeout> | undefined;
let expected = performance.now() + 10;
const watch = () => {
  const now = performance.now();
  maxLagMs = Math.max(maxLagMs, now - expected);
  expected = now + 10;
  lagTimer = setTimeout(watch, 10);
};
lagTimer = setTimeout(watch, 10);

const started = performance.now();
const end = started + seconds * 1000;
let created = 0;
let degraded = 0;
let maxHeld = 0;
// (time, keys created so far) after each batch, to count the keys written in the last window.
const marks: [number, number][] = [];
let oldest = 0;
// Most keys held beyond those written in the last window: expired keys not dropped yet.
let maxExcess = 0;
while (performance.now() < end) {
  for (let i = 0; i < batch; i++) {
    const outcome = await store.check([{
      key: `churn:${created++}`,
      algorithm: "sliding_log",
      limit: 10,
      windowMs,
      cost: 1,
    }]);
    if (outcome.degraded !== undefined) degraded++;
  }
  maxHeld = Math.max(maxHeld, store.size);
  const now = performance.now();
  marks.push([now, created]);
  while (oldest + 1 < marks.length && marks[oldest + 1]![0] <= now - windowMs) oldest++;
  const live = Math.min(
    created - (marks[oldest]![0] <= now - windowMs ? marks[oldest]![1] : 0),
    maxKeys,
  );
  maxExcess = Math.max(maxExcess, store.size - live);
  await tick();
}
const elapsed = (performance.now() - started) / 1000;
clearTimeout(lagTimer);
const held = store.size;
const cutoff = performance.now() - windowMs;
const before = marks.findLast(([t]) => t <= cutoff)?.[1] ?? 0;
await store.close();
const rssMb = Deno.memoryUsage().rss / 1024 / 1024;
console.log(JSON.stringify({
  seconds,
  window_ms: windowMs,
  max_keys: maxKeys,
  new_keys_per_s: Math.round(created / elapsed),
  checks: created,
  refused_degraded: degraded,
  max_keys_held: maxHeld,
  keys_held_at_end: held,
  keys_written_in_last_window: Math.min(created - before, maxKeys),
  max_expired_keys_held: maxExcess,
  max_event_loop_stall_ms: Math.round(maxLagMs),
  rss_mb_at_end: Math.round(rssMb),
}));
