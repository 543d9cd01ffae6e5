/**
 * Memory per key of each algorithm in Redis: creates N keys (default 1,000,000) per algorithm
 * through the real check script (EVALSHA, pipelined in chunks of 10,000), then reports the growth
 * of `used_memory` per key and a `MEMORY USAGE` sample. Starts its own `redis-server` on a free
 * loopback port and stops it when done. Not part of the test suite.
 *
 * Usage: `deno task bench:memory [--keys N] [--write]`; `--write` replaces the section
 * "## Memory per key (issue 5)" of `bench/RESULTS.md`.
 *
 * @module
 */
import { ALGORITHM_CODES, ALGORITHMS, type LimitRequest } from "../src/limiter/types.ts";
import { createRedisClient } from "../src/redis.ts";
import { counterKey } from "../src/store/keys.ts";
import { RedisStore } from "../src/store/redis_store.ts";
import { startRedis } from "../tests/_helpers/redis_server.ts";

const CHUNK = 10_000;
const SECTION = "## Memory per key (issue 5)";

function option(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

function info(text: string, field: string): number {
  const match = new RegExp(`^${field}:(\\d+)`, "m").exec(text);
  if (match === null) throw new Error(`INFO has no ${field}`);
  return Number(match[1]);
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
const version = /redis_version:(\S+)/.exec(await client.sendCommand<string>(["INFO", "server"]))
  ?.[1];
try {
  for (const algorithm of ALGORITHMS) {
    await client.sendCommand(["FLUSHALL"]);
    await new Promise((r) => setTimeout(r, 200));
    const before = info(await client.sendCommand<string>(["INFO", "memory"]), "used_memory");
    const started = performance.now();
    for (let base = 0; base < keys; base += CHUNK) {
      const groups: LimitRequest[][] = [];
      for (let i = base; i < Math.min(keys, base + CHUNK); i++) {
        groups.push([{ key: `user:${i}`, algorithm, limit: 100, windowMs: 3_600_000, cost: 1 }]);
      }
      await store.checkMany(groups);
    }
    const seconds = (performance.now() - started) / 1000;
    const size = await client.sendCommand<number>(["DBSIZE"]);
    if (size !== keys) throw new Error(`${algorithm}: expected ${keys} keys, found ${size}`);
    const after = info(await client.sendCommand<string>(["INFO", "memory"]), "used_memory");
    const sample = await client.sendCommand<number>([
      "MEMORY",
      "USAGE",
      counterKey("rl", algorithm, `user:${Math.floor(keys / 2)}`),
      "SAMPLES",
      "0",
    ]);
    const row = { algorithm, keys, bytesPerKey: (after - before) / keys, sample, seconds };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
} finally {
  await client.close();
}

const command = `deno task bench:memory --keys ${keys} --write`;
const table = [
  `${SECTION}`,
  "",
  `Command: \`${command}\` (redis-server ${version ?? "?"}, jemalloc, one key per user ` +
  "`user:<n>`, limit 100, window 1 h, one request each, EVALSHA of the real check script pipelined " +
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
  "`sliding_log` holds one sorted-set member per counted request plus one for its parameters, so " +
  "its figure is for a key with one request; each further request adds roughly its member " +
  "(about 20-30 bytes in a small listpack, 60-80 bytes once the set turns into a skiplist past " +
  "128 members). The other algorithms stay the same size whatever the traffic.",
  "",
].join("\n");

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
