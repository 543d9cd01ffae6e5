/**
 * Worst case of the check script per algorithm: adversarial inputs (limit = cost = 1,000,000 with a
 * 1 ms and a 30-day window, a 16-limit multi-check, a batch of 1,000 checks) run through the real
 * Redis store. Reports the longest script run seen by `SLOWLOG` (with `slowlog-log-slower-than 0`)
 * and, in a second run on an empty Redis with SLOWLOG off, the memory the requests leave behind:
 * growth of `used_memory` per check and the largest `MEMORY USAGE` of one key. Starts its own `redis-server` on a free loopback port and stops it
 * when done. Not part of the test suite.
 *
 * Usage: `deno run -A bench/script_worst_case.ts [--skip alg:scenario,...]` (for example
 * `--skip sliding_log:multi16,sliding_log:batch1000` on code where those would run for minutes).
 *
 * @module
 */
import { CHECK_SCRIPT } from "../src/limiter/scripts.ts";
import { ALGORITHMS, type LimitRequest } from "../src/limiter/types.ts";
import { createRedisClient } from "../src/redis/client.ts";
import { counterKey } from "../src/store/keys.ts";
import { RedisStore } from "../src/store/redis_store.ts";
import { startRedis } from "../tests/_helpers/redis_server.ts";
import { infoField } from "../tools/local_redis.ts";

const BIG = 1_000_000;
const MONTH_MS = 30 * 86_400_000;

function option(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

interface Scenario {
  name: string;
  /** Groups of limits, each group one check (one script run). */
  groups: (algorithm: LimitRequest["algorithm"]) => LimitRequest[][];
}

const one = (algorithm: LimitRequest["algorithm"], key: string, windowMs: number) => ({
  key,
  algorithm,
  limit: BIG,
  windowMs,
  cost: BIG,
});

const SCENARIOS: Scenario[] = [
  { name: "single1ms", groups: (a) => [[one(a, "junk", 1)]] },
  { name: "single30d", groups: (a) => [[one(a, "junk", MONTH_MS)]] },
  {
    name: "multi16",
    groups: (a) => [Array.from({ length: 16 }, (_, i) => one(a, `{m}:${i}`, MONTH_MS))],
  },
  {
    name: "batch1000",
    groups: (a) => Array.from({ length: 1000 }, (_, i) => [one(a, `b${i}`, MONTH_MS)]),
  },
];

const skip = new Set((option("--skip") ?? "").split(",").filter((s) => s !== ""));

await using redis = await startRedis();
const client = await createRedisClient(redis.url);
const store = new RedisStore({ client, prefix: "rl" });
await store.init();
await client.sendCommand(["CONFIG", "SET", "slowlog-max-len", "10000"]);

// Warm up (script cache, Lua state, keyspace dictionaries, client buffers, the INFO and FLUSHALL
// paths) so the first scenario measured is not charged for them.
for (let i = 0; i < 2; i++) {
  await client.sendCommand(["FLUSHALL", "SYNC"]);
  await client.sendCommand(["INFO", "memory"]);
  for (const algorithm of ALGORITHMS) {
    await store.check([{ key: "warm", algorithm, limit: 10, windowMs: 1, cost: 1 }]);
  }
  await client.sendCommand(["INFO", "memory"]);
}
const rows: string[] = [];
const bigRows: string[] = [];
try {
  for (const algorithm of ALGORITHMS) {
    for (const scenario of SCENARIOS) {
      if (skip.has(`${algorithm}:${scenario.name}`)) {
        rows.push(`| ${algorithm} | ${scenario.name} | not run | | | | | |`);
        continue;
      }
      const groups = scenario.groups(algorithm);
      // First run: the longest script run, from SLOWLOG.
      await client.sendCommand(["FLUSHALL", "SYNC"]);
      await client.sendCommand(["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
      await client.sendCommand(["SLOWLOG", "RESET"]);
      const started = performance.now();
      await store.checkMany(groups);
      const wall = performance.now() - started;
      const log = await client.sendCommand<[number, number, number, string[]][]>([
        "SLOWLOG",
        "GET",
        "-1",
      ]);
      const runs = log.filter((e) => e[3][0] === "EVALSHA").map((e) => Number(e[2]));
      runs.sort((a, b) => a - b);
      const worstUs = runs[runs.length - 1] ?? 0;
      const medianUs = runs[Math.floor(runs.length / 2)] ?? 0;
      const p99Us = runs[Math.floor(runs.length * 0.99)] ?? 0;
      // Second run on an empty Redis with SLOWLOG off (its entries take memory too): the memory.
      await client.sendCommand(["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
      await client.sendCommand(["SLOWLOG", "RESET"]);
      await client.sendCommand(["FLUSHALL", "SYNC"]);
      const before = infoField(await client.sendCommand<string>(["INFO", "memory"]), "used_memory");
      await store.checkMany(groups);
      const after = infoField(await client.sendCommand<string>(["INFO", "memory"]), "used_memory");
      let biggest = 0;
      for (const group of groups.slice(0, 16)) {
        for (const r of group) {
          const usage = await client.sendCommand<number | null>([
            "MEMORY",
            "USAGE",
            counterKey("rl", algorithm, r.key),
            "SAMPLES",
            "0",
          ]);
          biggest = Math.max(biggest, usage ?? 0);
        }
      }
      const perCheck = Math.round((after - before) / groups.length);
      const row = `| ${algorithm} | ${scenario.name} | ${(worstUs / 1000).toFixed(3)} | ` +
        `${(medianUs / 1000).toFixed(3)} | ${(p99Us / 1000).toFixed(3)} | ` +
        `${perCheck} | ${biggest} | ${Math.round(wall)} |`;
      rows.push(row);
      console.error(row);
    }
  }

  // A sliding log already holding 1,000,000 requests of cost 1, one per ms, 30-day window: a
  // denial (the retry search), then a commit once half of them expired (the prune).
  await client.sendCommand(["FLUSHALL", "SYNC"]);
  const N = 1_000_000;
  const t0 = 1_750_000_000_000;
  const key = counterKey("rl", "sliding_log", "{big}");
  // Members as the script under test writes them: one per request ('<cum>:<cost>', padded) or,
  // before issue 9, one per unit ('<time us>:<n>').
  const perRequest = CHECK_SCRIPT.includes("SL_MOD");
  for (let i = 0; i < N; i += 10_000) {
    const args: string[] = [];
    for (let j = i; j < i + 10_000; j++) {
      const t = (t0 + j) * 1000;
      args.push(String(t), perRequest ? `${String(j + 1).padStart(15, "0")}:1` : `${t}:1`);
    }
    await client.sendCommand(["ZADD", key, ...args]);
  }
  await client.sendCommand(["ZADD", key, "+inf", `~${BIG}:${MONTH_MS}`]);
  let now = t0 + N + 1;
  const timed = new RedisStore({ client, prefix: "rl", clock: () => now });
  await timed.init();
  const request: LimitRequest = {
    key: "{big}",
    algorithm: "sliding_log",
    limit: BIG,
    windowMs: MONTH_MS,
    cost: 1,
  };
  await client.sendCommand(["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
  for (
    const [what, at] of [["denied, 1M entries", t0 + N + 1], [
      "commit with 500,000 expired",
      t0 + MONTH_MS + N / 2,
    ]] as const
  ) {
    now = at;
    await client.sendCommand(["SLOWLOG", "RESET"]);
    const outcome = await timed.check([request]);
    const log = await client.sendCommand<[number, number, number, string[]][]>([
      "SLOWLOG",
      "GET",
      "-1",
    ]);
    const us = Math.max(0, ...log.filter((e) => e[3][0] === "EVALSHA").map((e) => Number(e[2])));
    const card = await client.sendCommand<number>(["ZCARD", key]);
    const row = `| ${what} | ${outcome.allowed} | ${(us / 1000).toFixed(3)} | ${card} |`;
    bigRows.push(row);
    console.error(row);
  }
} finally {
  await client.close();
}

console.log(
  "| algorithm | scenario | worst script run (ms, SLOWLOG) | median (ms) | p99 (ms) " +
    "| used_memory growth per check (B) " +
    "| largest MEMORY USAGE of one key (B) | wall (ms) |",
);
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) console.log(row);
console.log();
console.log(
  "| sliding log of 1,000,000 requests | allowed | script run (ms, SLOWLOG) | ZCARD after |",
);
console.log("| --- | --- | ---: | ---: |");
for (const row of bigRows) console.log(row);
