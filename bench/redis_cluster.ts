/**
 * Redis CPU per check and checks per second on one Redis and on a Redis Cluster of 1 and 3
 * masters: `wrk` (bench/wrk_check.lua, sliding-log checks on 10,000 keys) against `main.ts` nodes,
 * Redis CPU read from `INFO cpu` (used_cpu_sys + used_cpu_user) of every Redis process before and
 * after, script calls from `INFO commandstats`, the nodes' CPU from /proc. Starts every process
 * itself on free loopback ports and stops them by PID. Prints a Markdown table and what the
 * figures predict for a machine with more cores.
 *
 *     deno run -A bench/redis_cluster.ts [--setups standalone,cluster-1,cluster-3] [--seconds 10]
 *       [--nodes 2] [--connections 16]
 *
 * Setups: `standalone` (one Redis, standalone mode), `cluster-N` (N masters, keys spread over
 * all), `cluster-N-one-slot` (N masters, every key tagged `{hot}` so one master takes every
 * check: that master's CPU per check at the full rate, to compare with a spread load).
 *
 * On a 2-core machine the nodes, not Redis, are the limit: checks per second say little about a
 * bigger machine, Redis CPU per check and its split across masters say what one master can carry.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { infoField } from "../tools/local_redis.ts";
import { startNode, type TestNode } from "../tests/_helpers/node_process.ts";
import { startRedis } from "../tests/_helpers/redis_server.ts";
import { startRedisCluster } from "../tests/_helpers/redis_cluster.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    setups: { type: "string", default: "standalone,cluster-1,cluster-3" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    nodes: { type: "string", default: "2" },
    connections: { type: "string", default: "16" },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const NODES = Number(values.nodes);
const CONNECTIONS = Number(values.connections);
const IDLE_SECONDS = 3;
const WRK = new URL("./wrk_check.lua", import.meta.url).pathname;
const decoder = new TextDecoder();

/** A Redis the benchmark reads INFO from. */
interface Measured {
  readonly name: string;
  cli(...args: string[]): Promise<string>;
}

/** One Redis's counters at one moment. */
interface RedisSample {
  cpuS: number;
  scriptCalls: number;
  /** Bytes received from clients (`total_net_input_bytes`). */
  inputBytes: number;
}

async function sampleRedis(redis: Measured): Promise<RedisSample> {
  const cpu = await redis.cli("INFO", "cpu");
  const seconds = (field: string) => Number(new RegExp(`^${field}:([\\d.]+)`, "m").exec(cpu)?.[1]);
  const stats = await redis.cli("INFO", "commandstats");
  let scriptCalls = 0;
  for (const command of ["evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro"]) {
    const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, "m").exec(stats);
    if (match !== null) scriptCalls += Number(match[1]);
  }
  const inputBytes = infoField(await redis.cli("INFO", "stats"), "total_net_input_bytes");
  return { cpuS: seconds("used_cpu_sys") + seconds("used_cpu_user"), scriptCalls, inputBytes };
}

/** User + system CPU seconds of `pids` so far, from /proc (USER_HZ = 100). */
async function processCpuS(pids: number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const line = await Deno.readTextFile(`/proc/${pid}/stat`);
    const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100;
}

/** Runs one wrk per node for `seconds`; returns the checks answered 200/429 and failures. */
async function runWrk(nodes: TestNode[], seconds: number, prefix: string) {
  const runs = await Promise.all(nodes.map(async (node, i) => {
    const out = await new Deno.Command("wrk", {
      args: [
        "-t1",
        `-c${Math.max(1, Math.round(CONNECTIONS / nodes.length))}`,
        `-d${seconds}s`,
        "-s",
        WRK,
        node.url,
        "--",
        "10000",
        "10000",
        "60000",
        `${prefix}${i}`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = decoder.decode(out.stdout);
    const line = text.split("\n").find((l) => l.startsWith("WRK_JSON "));
    if (line === undefined) throw new Error(`wrk printed no result: ${text}`);
    return JSON.parse(line.slice("WRK_JSON ".length)) as Record<string, number>;
  }));
  const sum = (f: string) => runs.reduce((s, r) => s + r[f]!, 0);
  return {
    checks: sum("allowed") + sum("blocked"),
    failures: sum("other") + sum("errors"),
    p99Ms: Math.max(...runs.map((r) => r.p99_us!)) / 1000,
  };
}

/** Degraded answers the nodes gave so far (`ratelimiter_degraded_decisions_total`). */
async function degradedSoFar(nodes: TestNode[]): Promise<number> {
  let total = 0;
  for (const node of nodes) {
    const text = await (await fetch(`${node.url}/metrics`)).text();
    for (const match of text.matchAll(/^ratelimiter_degraded_decisions_total\{[^}]*\} (\d+)/gm)) {
      total += Number(match[1]);
    }
  }
  return total;
}

interface Row {
  setup: string;
  checksPerS: number;
  redisUsPerCheck: number;
  /** The same less what the Redis processes used while idle, per second of the run. */
  netRedisUsPerCheck: number;
  /** CPU % of one core the Redis processes used together with no load. */
  idleRedisPct: number;
  /** Script calls Redis ran per check, and bytes it received per check. */
  scriptsPerCheck: number;
  bytesPerCheck: number;
  nodeUsPerCheck: number;
  split: string;
  p99Ms: number;
  failures: number;
  degraded: number;
  /** Redis CPU µs per check on the busiest master. */
  busiestUs: number;
  masters: number;
}

async function measure(
  setup: string,
  redises: Measured[],
  env: Record<string, string>,
  keyPrefix = `${setup}-`,
): Promise<Row> {
  const nodes = await Promise.all(
    Array.from({ length: NODES }, () =>
      startNode({
        env: { ...env, RATELIMITER_STORE_TIMEOUT_MS: "1000", RATELIMITER_LOG_LEVEL: "warn" },
      })),
  );
  try {
    await runWrk(nodes, WARMUP, `warm-${setup}-`);
    // What the Redis processes burn with the nodes up and no checks (cron, cluster bus, the
    // nodes' heartbeats): subtracted per second of the run for the "net" figure.
    const idleBefore = await Promise.all(redises.map(sampleRedis));
    const idleStarted = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const idleAfter = await Promise.all(redises.map(sampleRedis));
    const idlePerS = idleAfter.reduce((sum, a, i) => sum + a.cpuS - idleBefore[i]!.cpuS, 0) /
      ((performance.now() - idleStarted) / 1000);
    const before = await Promise.all(redises.map(sampleRedis));
    const nodeBefore = await processCpuS(nodes.map((n) => n.pid));
    const degradedBefore = await degradedSoFar(nodes);
    const started = performance.now();
    const load = await runWrk(nodes, SECONDS, keyPrefix);
    const elapsedS = (performance.now() - started) / 1000;
    const after = await Promise.all(redises.map(sampleRedis));
    const nodeCpu = (await processCpuS(nodes.map((n) => n.pid))) - nodeBefore;
    const cpu = after.map((a, i) => a.cpuS - before[i]!.cpuS);
    const calls = after.map((a, i) => a.scriptCalls - before[i]!.scriptCalls);
    const totalCpu = cpu.reduce((s, c) => s + c, 0);
    const totalCalls = calls.reduce((s, c) => s + c, 0);
    const input = after.reduce((sum, a, i) => sum + a.inputBytes - before[i]!.inputBytes, 0);
    const split = redises.length === 1
      ? "—"
      : redises.map((r, i) =>
        `${r.name}: ${Math.round((100 * cpu[i]!) / totalCpu)}% CPU, ` +
        `${Math.round((100 * calls[i]!) / totalCalls)}% scripts`
      ).join("; ");
    const share = calls.map((c) => c / totalCalls);
    const busiest = cpu.reduce((best, c, i) => (c > cpu[best]! ? i : best), 0);
    return {
      setup,
      checksPerS: load.checks / elapsedS,
      redisUsPerCheck: (totalCpu * 1e6) / load.checks,
      netRedisUsPerCheck: ((totalCpu - idlePerS * elapsedS) * 1e6) / load.checks,
      idleRedisPct: idlePerS * 100,
      scriptsPerCheck: totalCalls / load.checks,
      bytesPerCheck: input / load.checks,
      nodeUsPerCheck: (nodeCpu * 1e6) / load.checks,
      split,
      p99Ms: load.p99Ms,
      failures: load.failures,
      degraded: (await degradedSoFar(nodes)) - degradedBefore,
      busiestUs: (cpu[busiest]! * 1e6) / (load.checks * (share[busiest] || 1)),
      masters: redises.length,
    };
  } finally {
    await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
  }
}

const rows: Row[] = [];
for (const setup of values.setups.split(",")) {
  if (setup === "standalone") {
    await using redis = await startRedis();
    rows.push(
      await measure(setup, [{ name: "redis", cli: redis.cli }], {
        RATELIMITER_REDIS_URL: redis.url,
      }),
    );
  } else {
    const parsed = /^cluster-(\d+)(-one-slot)?$/.exec(setup);
    const masters = Number(parsed?.[1]);
    if (!(masters >= 1)) throw new TypeError(`Unknown setup "${setup}"`);
    await using cluster = await startRedisCluster({ masters });
    const measured = (await cluster.masters()).map((m, i) => ({
      name: `master ${i + 1}`,
      cli: m.cli,
    }));
    // "-one-slot": every key shares the hash tag {hot}, so one master takes every check.
    const prefix = parsed?.[2] === undefined ? `${setup}-` : `{hot}${setup}-`;
    rows.push(await measure(setup, measured, cluster.nodeEnv, prefix));
  }
}

const uptime = decoder.decode((await new Deno.Command("uptime").output()).stdout).trim();
const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
console.log(
  `| Setup | checks/s | Redis CPU µs/check (all masters) | net of idle | Redis idle CPU | node CPU µs/check | scripts, bytes sent to Redis per check | split across masters | p99 ms | failed | degraded |`,
);
console.log("| --- | --: | --: | --: | --: | --: | --: | --- | --: | --: | --: |");
for (const r of rows) {
  console.log(
    `| ${r.setup} | ${fmt(r.checksPerS)} | ${fmt(r.redisUsPerCheck, 1)} | ${
      fmt(r.netRedisUsPerCheck, 1)
    } | ${fmt(r.idleRedisPct, 1)}% | ${fmt(r.nodeUsPerCheck, 0)} | ${fmt(r.scriptsPerCheck, 2)}, ${
      fmt(r.bytesPerCheck)
    } | ${r.split} | ${fmt(r.p99Ms, 1)} | ${r.failures} | ${r.degraded} |`,
  );
}
console.log();
for (const r of rows) {
  // One Redis process runs its scripts on one core: a master saturates near 1e6 / (its µs per
  // check) checks per second, and with an even split the cluster at masters × that.
  const perMaster = 1e6 / r.busiestUs;
  console.log(
    `${r.setup}: one master saturates near ${fmt(perMaster)} checks/s (at ${fmt(r.busiestUs, 1)} ` +
      `µs of Redis CPU per check); ${r.masters} master(s) ≈ ${fmt(perMaster * r.masters)} ` +
      `checks/s if each has its own core, needing ≈ ${
        fmt((perMaster * r.masters * r.nodeUsPerCheck) / 1e6, 1)
      } cores of nodes at ${fmt(r.nodeUsPerCheck)} µs per check`,
  );
}
console.log(`\nuptime: ${uptime}`);
