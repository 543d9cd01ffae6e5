/**
 * Redis CPU per check end to end (issue 16): one node on a private `redis-server`, `POST /check`
 * sliding-log checks from `wrk` (10,000 keys, limit 1,000,000, so always allowed), and per
 * subject the Redis process's CPU time (user + system, `INFO cpu`) divided by the checks
 * answered, the node's too, the script calls Redis ran per check (`INFO commandstats`), checks/s and wrk's
 * latency p50/p99. The Redis CPU spent idle with the node up (measured for 2 s before each run:
 * cron, the node's background jobs) is left out. Subjects, in interleaved rounds on an emptied
 * Redis: the node of `--base` (a checkout, e.g. `git archive` of main), and this checkout's node
 * with coalescing on and off (`RATELIMITER_COALESCE`). Each round measures under `--connections` (default 64) and at 1
 * connection (the latency coalescing must not add when there is nothing to merge).
 *
 *   mkdir /tmp/base && git archive main | tar -x -C /tmp/base
 *   deno run -A bench/redis_cpu.ts --base /tmp/base --rounds 3 --seconds 5
 *
 * @module
 */
import { parseArgs } from "node:util";
import { nodePermissionFlags } from "../tools/node_permissions.ts";
import { freePort, pingRedis, redisServerArgs } from "../tools/local_redis.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    base: { type: "string" },
    rounds: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string" },
    only: { type: "string" },
  },
});
const rounds = Number(values.rounds ?? 3);
const seconds = Number(values.seconds ?? 5);
const connections = Number(values.connections ?? 64);
const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const decoder = new TextDecoder();

async function output(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
  return decoder.decode(out.stdout);
}

/** User + system CPU ticks (1/100 s) of `pid` so far. */
async function cpuTicks(pid: number): Promise<number> {
  const line = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

async function until(probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("timed out waiting for a process");
}

interface Wrk {
  requests: number;
  duration_us: number;
  other: number;
  errors: number;
  p50_us: number;
  p99_us: number;
}

async function wrk(url: string, c: number, s: number): Promise<Wrk> {
  const out = await output("wrk", [
    "-t1",
    `-c${c}`,
    `-d${s}s`,
    "-s",
    `${ROOT}/bench/wrk_check.lua`,
    url,
    "--",
    "10000",
    "1000000",
    "60000",
    `cpu${crypto.randomUUID().slice(0, 6)}`,
  ]);
  const line = out.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (line === undefined) throw new Error("wrk printed no result");
  const r = JSON.parse(line.slice("WRK_JSON ".length)) as Wrk;
  if (r.other + r.errors > 0) {
    throw new Error(`wrk saw ${r.other} other answers, ${r.errors} errors`);
  }
  return r;
}

interface Subject {
  name: string;
  dir: string;
  env: Record<string, string>;
}

const subjects: Subject[] = [
  ...(values.base === undefined ? [] : [{ name: "base", dir: values.base, env: {} }]),
  { name: "coalesce on", dir: ROOT, env: { RATELIMITER_COALESCE: "true" } },
  { name: "coalesce off", dir: ROOT, env: { RATELIMITER_COALESCE: "false" } },
].filter((s) => values.only === undefined || values.only.split(",").includes(s.name));

interface Figures {
  rps: number;
  redisCpuUs: number;
  nodeCpuUs: number;
  scriptUs: number;
  callsPerCheck: number;
  p50: number;
  p99: number;
  p50One: number;
  p99One: number;
}
const results = new Map<string, Figures[]>(subjects.map((s) => [s.name, []]));

const redisPort = freePort();
const redis = new Deno.Command("redis-server", {
  args: redisServerArgs(redisPort),
  stdout: "null",
  stderr: "null",
}).spawn();
const cli = (...args: string[]) => output("redis-cli", ["-p", String(redisPort), ...args]);
const cpuSeconds = (info: string) =>
  Number(/^used_cpu_user:([\d.]+)/m.exec(info)![1]) +
  Number(/^used_cpu_sys:([\d.]+)/m.exec(info)![1]);
/** Script calls and the time Redis spent running them (µs), from `INFO commandstats`. */
const scripts = (stats: string) =>
  [...stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+),usec=(\d+)/gm)]
    .reduce((sum, m) => ({ calls: sum.calls + Number(m[1]), usec: sum.usec + Number(m[2]) }), {
      calls: 0,
      usec: 0,
    });

try {
  await until(() => pingRedis(redisPort));
  const load = (await output("uptime", [])).trim();
  for (let round = 0; round < rounds; round++) {
    for (const s of subjects) {
      await cli("FLUSHALL");
      const port = freePort();
      const node = new Deno.Command(Deno.execPath(), {
        args: ["run", ...nodePermissionFlags(), `${s.dir}/main.ts`],
        cwd: s.dir,
        env: {
          RATELIMITER_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
          RATELIMITER_NODE_PORT: String(port),
          RATELIMITER_LISTEN_HOST: "127.0.0.1",
          RATELIMITER_NODE_HOST: "127.0.0.1",
          RATELIMITER_LOG_LEVEL: "warn",
          RATELIMITER_MAX_LIMIT: "1000000",
          // Every check must reach Redis: on a busy machine a 100 ms deadline would answer some
          // in the failure mode, and `closed` turns any that still is into a 503 wrk reports.
          RATELIMITER_STORE_TIMEOUT_MS: "10000",
          RATELIMITER_FAILURE_MODE: "closed",
          ...s.env,
        },
        stdout: "null",
        stderr: "null",
      }).spawn();
      const url = `http://127.0.0.1:${port}`;
      try {
        await until(async () => {
          const res = await fetch(`${url}/health`);
          await res.body?.cancel();
          return res.ok;
        });
        await wrk(url, connections, 1);
        // What Redis spends with the node up and no checks (its cron, the node's background jobs),
        // left out of the CPU per check: at a few thousand checks/s it would weigh on every figure.
        const idleStart = cpuSeconds(await cli("INFO", "cpu"));
        const idleFrom = performance.now();
        await new Promise((r) => setTimeout(r, 2000));
        const idlePerSecond = (cpuSeconds(await cli("INFO", "cpu")) - idleStart) /
          ((performance.now() - idleFrom) / 1000);
        await cli("CONFIG", "RESETSTAT");
        const before = cpuSeconds(await cli("INFO", "cpu"));
        const nodeBefore = await cpuTicks(node.pid);
        const r = await wrk(url, connections, seconds);
        const nodeTicks = await cpuTicks(node.pid) - nodeBefore;
        const cpu = cpuSeconds(await cli("INFO", "cpu")) - before -
          idlePerSecond * (r.duration_us / 1e6);
        const stats = await cli("INFO", "commandstats");
        const ran = scripts(stats);
        const one = await wrk(url, 1, Math.max(2, Math.round(seconds / 2)));
        const f: Figures = {
          rps: r.requests / (r.duration_us / 1e6),
          redisCpuUs: (cpu * 1e6) / r.requests,
          nodeCpuUs: (nodeTicks * 1e4) / r.requests,
          scriptUs: ran.usec / r.requests,
          callsPerCheck: ran.calls / r.requests,
          p50: r.p50_us / 1000,
          p99: r.p99_us / 1000,
          p50One: one.p50_us / 1000,
          p99One: one.p99_us / 1000,
        };
        results.get(s.name)!.push(f);
        console.log(
          `round ${round + 1} ${s.name}: ${f.rps.toFixed(0)} checks/s, Redis ${
            f.redisCpuUs.toFixed(1)
          } µs CPU/check, node ${f.nodeCpuUs.toFixed(1)} µs CPU/check, scripts ${
            f.scriptUs.toFixed(1)
          } µs/check, ${f.callsPerCheck.toFixed(3)} script calls/check, p50/p99 ${
            f.p50.toFixed(2)
          }/${f.p99.toFixed(2)} ms; 1 connection p50/p99 ${f.p50One.toFixed(2)}/${
            f.p99One.toFixed(2)
          } ms`,
        );
      } finally {
        try {
          node.kill("SIGTERM");
        } catch { /* gone */ }
        await node.status;
      }
    }
  }
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const m = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
  };
  console.log(
    `\nwrk -t1 -c${connections} ${seconds} s (after 1 s warm-up), then -c1; 10,000 keys, sliding_log; medians of ${rounds} rounds; load at start: ${load}`,
  );
  console.log(
    `| subject | checks/s | Redis CPU µs/check | node CPU µs/check | script run µs/check | script calls/check | p50 / p99 ms (c${connections}) | p50 / p99 ms (c1) |`,
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const [name, fs] of results) {
    const m = (pick: (f: Figures) => number, digits: number) =>
      median(fs.map(pick)).toFixed(digits);
    console.log(
      `| ${name} | ${m((f) => f.rps, 0)} | ${m((f) => f.redisCpuUs, 1)} | ${
        m((f) => f.nodeCpuUs, 1)
      } | ${m((f) => f.scriptUs, 1)} | ${m((f) => f.callsPerCheck, 3)} | ${m((f) => f.p50, 2)} / ${
        m((f) => f.p99, 2)
      } | ${m((f) => f.p50One, 2)} / ${m((f) => f.p99One, 2)} |`,
    );
  }
} finally {
  try {
    redis.kill("SIGTERM");
  } catch { /* gone */ }
  await redis.status;
}
