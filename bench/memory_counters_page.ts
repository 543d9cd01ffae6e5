/**
 * Counters pages on the embedded store (issue 9, item 7): fills a `MemoryStore` with 1,000,000
 * sliding-log keys (straight into `checkMany`, no HTTP), then times a full page-through at
 * `--limit` keys a page, one page with a `?prefix=` that matches nothing, one page at the last
 * cursor, and the longest single `reset()` while half the keys are reset (the creation order
 * compacts its emptied slots once during that). Also reports the time to create the keys.
 *
 *   deno run -A bench/memory_counters_page.ts [--keys 1000000] [--limit 1000]
 *
 * Uses only `new MemoryStore()`, `checkMany()`, `listCounters()` and `reset()`, so it runs
 * unchanged in an older checkout to compare.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { MemoryStore } from "../src/store/memory_store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { keys: { type: "string" }, limit: { type: "string" } },
});
const keys = Number(values.keys ?? 1_000_000);
const limit = Number(values.limit ?? 1000);

const store = new MemoryStore({ maxKeys: keys, sweepIntervalMs: 0 });
const request = (i: number) => [{
  key: `user:${i}`,
  algorithm: "sliding_log" as const,
  limit: 10,
  windowMs: 3_600_000,
  cost: 1,
}];

let started = performance.now();
for (let first = 0; first < keys; first += 1000) {
  await store.checkMany(
    Array.from({ length: Math.min(1000, keys - first) }, (_, i) => request(first + i)),
  );
}
const fillMs = performance.now() - started;

started = performance.now();
let pages = 0;
let listed = 0;
let worstPageMs = 0;
let lastCursor: string | undefined;
let cursor: string | undefined;
do {
  const t = performance.now();
  const page = await store.listCounters({ cursor, limit });
  worstPageMs = Math.max(worstPageMs, performance.now() - t);
  listed += page.counters.length;
  if (page.nextCursor !== undefined) lastCursor = page.nextCursor;
  cursor = page.nextCursor;
  pages++;
} while (cursor !== undefined);
const walkMs = performance.now() - started;

started = performance.now();
const none = await store.listCounters({ limit: 100, prefix: "nobody:" });
const noneMs = performance.now() - started;

started = performance.now();
const deep = await store.listCounters({ cursor: lastCursor, limit: 100 });
const deepMs = performance.now() - started;

let worstResetMs = 0;
started = performance.now();
for (let i = 0; i < keys / 2 + 1; i++) {
  const t = performance.now();
  await store.reset(`user:${i}`);
  worstResetMs = Math.max(worstResetMs, performance.now() - t);
}
const resetMs = performance.now() - started;

const ms = (x: number) => +x.toFixed(2);
console.log(JSON.stringify({
  keys,
  fill_ms: ms(fillMs),
  page_through: { limit, pages, listed, total_ms: ms(walkMs), worst_page_ms: ms(worstPageMs) },
  prefix_matching_nothing: {
    ms: ms(noneMs),
    counters: none.counters.length,
    next_cursor: none.nextCursor ?? null,
  },
  page_at_last_cursor: { ms: ms(deepMs), counters: deep.counters.length },
  reset_half: { total_ms: ms(resetMs), worst_reset_ms: ms(worstResetMs) },
  rss_mb: Math.round(Deno.memoryUsage().rss / 1e6),
}));
await store.close();
