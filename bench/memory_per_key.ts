/**
 * Memory per key of each algorithm in Redis: creates N keys (default 1,000,000) per algorithm
 * through the real check script (EVALSHA, pipelined in chunks of 10,000), then reports the growth
 * of `used_memory` per key and a `MEMORY USAGE` sample. Starts its own `redis-server` on a free
 * loopback port and stops it when done. Not part of the test suite.
 *
 * Usage: `deno task bench:memory [--keys N] [--write]`; `--write` replaces the section
 * "## Memory per key (issue 5)" of `bench/RESULTS.md` (run `deno fmt bench/RESULTS.md` after).
 *
 * @module
 */
import { ALGORITHM_CODES, ALGORITHMS, type LimitRequest } from "../src/limiter/types.ts";
import { createRedisClient } from "../src/redis/client.ts";
import { counterKey } from "../src/store/keys.ts";
import { RedisStore } from "../src/store/redis_store.ts";
import { startRedis } from "../tests/_helpers/redis_server.ts";
import { infoField } from "../tools/local_redis.ts";

const CHUNK = 10_000;
const SECTION = "## Memory per key (issue 5)";

function option(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

interface Row {
  algorithm: string;
  keys: number;
  bytesPerKey: number;
  sample: number;
  seconds: number;
}

const keys = Number(option("--keys") ?? 1_000_000);
if (!Number.isSafeInteger(keys) || keys < 1) throw new RangeError(`Invalid --keys ${keys}`);

await using redis = await startRedis();
const client = await createRedisClient(redis.url);
const store = new RedisStore({ client, prefix: "rl" });
await store.init();
const rows: Row[] = [];
const variants: { what: string; bytes: number }[] = [];
const VARIANTS: [string, string, number, number][] = [
  ["key `user:1`, limit 100, window 1 h", "user:1", 100, 3_600_000],
  ["key `user:1`, limit 1,000,000, window 1 day", "user:2", 1_000_000, 86_400_000],
  ["key `u`, limit 1,000,000, window 30 days", "u", 1_000_000, 2_592_000_000],
  ["a 35-byte key, limit 100, window 1 h", `user:${"x".repeat(30)}`, 100, 3_600_000],
];
const usage = (algorithm: typeof ALGORITHMS[number], key: string) =>
  client.sendCommand<number>(["MEMORY", "USAGE", counterKey("rl", algorithm, key), "SAMPLES", "0"]);
const version = /redis_version:(\S+)/.exec(await client.sendCommand<string>(["INFO", "server"]))
  ?.[1];
try {
  for (const algorithm of ALGORITHMS) {
    await client.sendCommand(["FLUSHALL"]);
    await new Promise((r) => setTimeout(r, 200));
    const before = infoField(await client.sendCommand<string>(["INFO", "memory"]), "used_memory");
    // A bucket refills 1 token per 36 s here and its key expires once full: half-empty buckets
    // live for 30 min, long enough to count them all.
    const cost = algorithm === "token_bucket" || algorithm === "gcra" ? 50 : 1;
    const started = performance.now();
    for (let base = 0; base < keys; base += CHUNK) {
      const groups: LimitRequest[][] = [];
      for (let i = base; i < Math.min(keys, base + CHUNK); i++) {
        groups.push([{ key: `user:${i}`, algorithm, limit: 100, windowMs: 3_600_000, cost }]);
      }
      await store.checkMany(groups);
    }
    const seconds = (performance.now() - started) / 1000;
    const size = await client.sendCommand<number>(["DBSIZE"]);
    if (size !== keys) throw new Error(`${algorithm}: expected ${keys} keys, found ${size}`);
    const after = infoField(await client.sendCommand<string>(["INFO", "memory"]), "used_memory");
    const sample = await usage(algorithm, `user:${Math.floor(keys / 2)}`);
    const row = { algorithm, keys, bytesPerKey: (after - before) / keys, sample, seconds };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  // One key's own footprint (MEMORY USAGE) as its parameters, key name and traffic vary.
  await client.sendCommand(["FLUSHALL"]);
  for (const algorithm of ALGORITHMS.filter((a) => a !== "sliding_log")) {
    for (const [name, key, limit, windowMs] of VARIANTS) {
      await store.check([{ key, algorithm, limit, windowMs, cost: 37 }]);
      variants.push({ what: `\`${algorithm}\`, ${name}`, bytes: await usage(algorithm, key) });
    }
  }
  for (const entries of [1, 10, 100, 128, 1000, 10_000]) {
    const key = `user:log${entries}`;
    const request = { key, algorithm: "sliding_log" as const, limit: 100_000, windowMs: 3_600_000 };
    // One entry per check, as real traffic makes them (a cost of n writes n members at once).
    await store.checkMany(Array.from({ length: entries }, () => [{ ...request, cost: 1 }]));
    const bytes = await usage("sliding_log", key);
    variants.push({
      what: entries === 1
        ? "`sliding_log`, 1 entry"
        : `\`sliding_log\`, ${entries.toLocaleString("en")} entries (${
          (bytes / entries).toFixed(0)
        } bytes per entry)`,
      bytes,
    });
  }
} finally {
  await client.close();
}

const command = `deno task bench:memory --keys ${keys} --write`;
const table = [
  `${SECTION}`,
  "",
  `Command: \`${command}\` (redis-server ${version ?? "?"}, jemalloc, one key per user ` +
  "`user:<n>`, limit 100, window 1 h, one request each (cost 50 for `token_bucket` and `gcra`, so " +
  "their keys outlive the run; cost 1 otherwise), EVALSHA of the real check script pipelined " +
  `in chunks of ${CHUNK.toLocaleString("en")}). Measured ${
    new Date().toISOString().slice(0, 10)
  } on ` +
  `${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores.`,
  "",
  "`used_memory` per key is the growth of Redis `INFO memory` `used_memory` divided by the keys " +
  "created: it includes the key name, the main and expires dictionaries and allocator rounding. " +
  "`MEMORY USAGE` is one key's own footprint (`SAMPLES 0`).",
  "",
  "| Algorithm | Code | Keys | `used_memory` per key (bytes) | `MEMORY USAGE` of one key (bytes) | Time to create (s) |",
  "| --- | --- | ---: | ---: | ---: | ---: |",
  ...rows.map((r) =>
    `| \`${r.algorithm}\` | \`${ALGORITHM_CODES[r.algorithm as keyof typeof ALGORITHM_CODES]}\` | ${
      r.keys.toLocaleString("en")
    } | ${r.bytesPerKey.toFixed(1)} | ${r.sample} | ${r.seconds.toFixed(1)} |`
  ),
  "",
  "`sliding_log`'s figure is for a key holding one request: it keeps one sorted-set member per " +
  "counted request. The other algorithms keep the same few fields whatever the traffic. One key's " +
  "own footprint (`MEMORY USAGE`) as its name, parameters and traffic vary; add about " +
  `${dictionaryBytes(rows)} bytes per key of dictionaries (main and expires) to compare with the ` +
  "`used_memory` figures:",
  "",
  "| Key | `MEMORY USAGE` (bytes) |",
  "| --- | ---: |",
  ...variants.map((v) => `| ${v.what} | ${v.bytes} |`),
  "",
].join("\n");

/** Bytes per key outside `MEMORY USAGE` (dictionaries, expires), from the O(1) rows. */
function dictionaryBytes(rows: Row[]): number {
  const o1 = rows.filter((r) => r.algorithm !== "sliding_log");
  if (o1.length === 0) return 0;
  return Math.round(o1.reduce((sum, r) => sum + r.bytesPerKey - r.sample, 0) / o1.length);
}

console.log(table);
if (Deno.args.includes("--write")) {
  const path = new URL("./RESULTS.md", import.meta.url);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    text = "# Benchmark results\n\n";
  }
  const start = text.indexOf(SECTION);
  if (start < 0) {
    text = text.trimEnd() + "\n\n" + table;
  } else {
    const next = text.indexOf("\n## ", start + SECTION.length);
    text = text.slice(0, start) + table + (next < 0 ? "" : text.slice(next + 1));
  }
  await Deno.writeTextFile(path, text);
}
