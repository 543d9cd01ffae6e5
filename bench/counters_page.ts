/**
 * Benchmark: one page of `GET /api/counters` (and `/api/blocks`) with 1,000,000 live counter keys.
 *
 * Starts a private redis-server on a free loopback port, fills it with 1,000,000 sliding-log keys
 * written exactly as the check script writes them, serves the app in this process on the Redis
 * store, and times pages over HTTP. Also counts the Redis commands each page costs (from
 * `INFO stats`), and times one tick of the shared active-counters scan. Stops what it started.
 *
 * Run: deno run -A bench/counters_page.ts [--keys 1000000]
 * Not part of CI; results go to bench/RESULTS.md.
 *
 * @module
 */
import { RedisActiveCounters } from "../src/cluster/redis_active_counters.ts";
import { createApp } from "../src/http/app.ts";
import { parseConfig } from "../src/config.ts";
import { silentLogger } from "../src/log.ts";
import { createMetrics } from "../src/metrics/metrics.ts";
import { RedisOverrideStore } from "../src/cluster/redis_override_store.ts";
import { createRedisClient } from "../src/redis/client.ts";
import { RedisStore } from "../src/store/redis_store.ts";
import { startRedis } from "../tests/_helpers/redis_server.ts";

const arg = Deno.args.indexOf("--keys");
const TOTAL = arg >= 0 ? Number(Deno.args[arg + 1]) : 1_000_000;
/** Keys under `tenant7:` (1 %), to time a `?prefix=` page whose matches are rare. */
const TENANT_KEYS = Math.floor(TOTAL / 100);
/** Keys filled to their limit, to time `/api/blocks`. */
const BLOCKED_EVERY = 50;
const BATCH = 10_000;

/**
 * Writes keys as `sl_commit` does: one member `000000000000001:1` (the key's first request, of
 * cost 1) scored now, the metadata member `~<limit>:<window_ms>` scored +inf, and PEXPIRE
 * window + 1.
 * ARGV: prefix, name prefix, first index, count, now µs, window ms, block-every.
 */
const FILL = `
local prefix, name, first, count = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now, window, every = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
for i = first, first + count - 1 do
  local key = prefix .. ':sl:{' .. name .. i .. '}'
  local limit = 10
  if every > 0 and i % every == 0 then limit = 1 end
  redis.call('ZADD', key, now, '000000000000001:1', '+inf', '~' .. limit .. ':' .. window)
  redis.call('PEXPIRE', key, window + 1)
end
return count
`;

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    n: sorted.length,
    mean: +mean.toFixed(2),
    p50: +at(0.5).toFixed(2),
    p95: +at(0.95).toFixed(2),
    max: +sorted[sorted.length - 1]!.toFixed(2),
  };
}

interface CommandCounts {
  /** Every command Redis ran, those inside scripts included. */
  total: number;
  scan: number;
  evalsha: number;
}

/** Command counters of the server (`INFO stats` and `INFO commandstats`). */
async function commandCounts(cli: (...a: string[]) => Promise<string>): Promise<CommandCounts> {
  const info = await cli("INFO", "all");
  const calls = (name: string) =>
    Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return {
    total: Number(/total_commands_processed:(\d+)/.exec(info)![1]),
    scan: calls("scan"),
    evalsha: calls("evalsha"),
  };
}

await using redis = await startRedis();
const client = await createRedisClient(redis.url);
const store = new RedisStore({ client, prefix: "rl" });
await store.init();
const overrideStore = new RedisOverrideStore({ client, pollIntervalMs: 0 });
await overrideStore.start();

const fillStarted = performance.now();
const nowUs = String(Date.now() * 1000);
const fill = async (name: string, count: number) => {
  for (let first = 0; first < count; first += BATCH) {
    await client.sendCommand([
      "EVAL",
      FILL,
      "0",
      "rl",
      name,
      String(first),
      String(Math.min(BATCH, count - first)),
      nowUs,
      String(3_600_000),
      String(name === "user:" ? BLOCKED_EVERY : 0),
    ]);
  }
};
await fill("user:", TOTAL - TENANT_KEYS);
await fill("tenant7:", TENANT_KEYS);
const dbsize = Number(await redis.cli("DBSIZE"));
const fillMs = performance.now() - fillStarted;
const memory = /used_memory_human:(\S+)/.exec(await redis.cli("INFO", "memory"))![1];
console.log(JSON.stringify({ filled: dbsize, fill_ms: Math.round(fillMs), used_memory: memory }));

const config = parseConfig({}, { hostname: "bench" });
const metrics = createMetrics({ nodeId: "bench", defaultMetrics: false });
const app = createApp({ config, store, metrics, logger: silentLogger, overrideStore });
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
const base = `http://127.0.0.1:${server.addr.port}`;

interface PageRun {
  latencyMs: number[];
  items: number[];
  /** Round trips from the node: SCAN steps and EVALSHA calls (one peek per listed key). */
  scans: number[];
  evalshas: number[];
  /** Every command Redis ran for the page, those run inside the scripts included. */
  commands: number[];
}

/** Follows next_cursor for `pages` pages of `path`, timing each and counting Redis commands. */
async function run(path: string, field: string, pages: number): Promise<PageRun> {
  const result: PageRun = { latencyMs: [], items: [], scans: [], evalshas: [], commands: [] };
  let cursor: string | null = null;
  for (let i = 0; i < pages; i++) {
    const url: string = `${base}${path}${
      cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`
    }`;
    const before = await commandCounts(redis.cli);
    const started = performance.now();
    const res = await fetch(url);
    const body = await res.json();
    const elapsed = performance.now() - started;
    const after = await commandCounts(redis.cli);
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${JSON.stringify(body)}`);
    result.latencyMs.push(elapsed);
    result.items.push(body[field].length);
    result.scans.push(after.scan - before.scan);
    result.evalshas.push(after.evalsha - before.evalsha);
    // INFO itself counts as one command.
    result.commands.push(after.total - before.total - 1);
    cursor = body.next_cursor;
    if (cursor === null) break;
  }
  return result;
}

// Warm up connections and script caches.
await run("/api/counters?limit=100", "counters", 3);

const report: Record<string, unknown> = { keys: dbsize };
for (
  const [name, path, field, pages] of [
    ["counters limit=100", "/api/counters?limit=100", "counters", 50],
    ["counters limit=1000", "/api/counters?limit=1000", "counters", 20],
    [
      "counters prefix=tenant7: limit=100",
      "/api/counters?prefix=tenant7%3A&limit=100",
      "counters",
      50,
    ],
    ["blocks limit=100", "/api/blocks?limit=100", "blocked", 20],
  ] as [string, string, string, number][]
) {
  const r = await run(path, field, pages);
  report[name] = {
    latency_ms: stats(r.latencyMs),
    items_per_page: stats(r.items),
    scan_calls_per_page: stats(r.scans),
    evalsha_calls_per_page: stats(r.evalshas),
    redis_commands_per_page_incl_in_scripts: stats(r.commands),
  };
}

// One tick of the shared active-counters scan (10 SCAN steps of COUNT 1000), and a full pass.
const ticks: number[] = [];
let counted = -1;
const counters = new RedisActiveCounters({
  client,
  prefix: "rl",
  instance: "bench",
  set: (n) => counted = n,
});
const passStarted = performance.now();
while (counted < 0) {
  const started = performance.now();
  await counters.tick();
  ticks.push(performance.now() - started);
}
report["active counters tick"] = {
  tick_ms: stats(ticks),
  ticks_per_pass: ticks.length,
  pass_ms: Math.round(performance.now() - passStarted),
  counted,
};

console.log(JSON.stringify(report, null, 2));
await server.shutdown();
await overrideStore.close();
await client.close();
