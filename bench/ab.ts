/**
 * Before/after comparison of the `/check` hot path: runs the node of this checkout, the node of
 * another checkout (`--base`, e.g. `git worktree add` or `git archive` of the commit before a
 * change) and this checkout's two floors (same answer; minimal answer), in interleaved rounds
 * under the same `wrk` load, and prints the median checks/s and server CPU µs per check of each,
 * with the ratios to the floors measured in the same run. Interleaving and medians make it usable
 * on a shared machine, where one run is noise.
 *
 *   mkdir /tmp/base && git archive <commit> | tar -x -C /tmp/base
 *   deno run -A bench/ab.ts --base /tmp/base --store redis --rounds 5
 *   deno run -A bench/ab.ts --base /tmp/base --store memory
 *   deno run -A bench/ab.ts --base /tmp/base --store redis --hot --cache off
 *
 * @module
 */
import { parseArgs } from "node:util";
import { nodePermissionFlags } from "../tools/node_permissions.ts";
import { freePort } from "../tools/local_redis.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const decoder = new TextDecoder();
const print = (line = "") => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));

const { values } = parseArgs({
  args: Deno.args,
  options: {
    base: { type: "string" },
    store: { type: "string" },
    hot: { type: "boolean" },
    cache: { type: "string" },
    rounds: { type: "string" },
    seconds: { type: "string" },
    warmup: { type: "string" },
    connections: { type: "string" },
  },
});
const store = values.store ?? "redis";
const hot = values.hot ?? false;
const rounds = Number(values.rounds ?? 3);
const seconds = Number(values.seconds ?? 3);
const warmup = Number(values.warmup ?? 1);
const connections = Number(values.connections ?? 50);
const load = hot ? { keys: 1, limit: 10 } : { keys: 10_000, limit: 1_000_000 };

async function until(probe: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      await probe();
      return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("timed out waiting for a process");
}

function spawn(cmd: string, args: string[], env: Record<string, string> = {}, cwd = ROOT) {
  return new Deno.Command(cmd, { args, env, cwd, stdout: "null", stderr: "null", stdin: "null" })
    .spawn();
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  await child.status;
}

/** User + system CPU ticks (1/100 s) of `pid` so far. */
async function cpuTicks(pid: number): Promise<number> {
  const line = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

async function redisCli(port: number, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("redis-cli", {
    args: ["-p", String(port), ...args],
    stdout: "piped",
    stderr: "null",
  }).output();
  return decoder.decode(out.stdout).trim();
}

async function wrk(url: string, s: number): Promise<number> {
  const out = await new Deno.Command("wrk", {
    args: [
      "-t1",
      `-c${connections}`,
      `-d${s}s`,
      "-s",
      `${ROOT}bench/wrk_check.lua`,
      url,
      "--",
      String(load.keys),
      String(load.limit),
      "60000",
      `ab${crypto.randomUUID().slice(0, 6)}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const line = decoder.decode(out.stdout).split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (line === undefined) throw new Error(`wrk failed: ${decoder.decode(out.stderr)}`);
  const r = JSON.parse(line.slice("WRK_JSON ".length));
  if (r.other + r.errors > 0) {
    throw new Error(`wrk saw ${r.other} other answers, ${r.errors} errors`);
  }
  return r.requests / (r.duration_us / 1e6);
}

interface Subject {
  name: string;
  start(port: number, env: Record<string, string>): Deno.ChildProcess;
}

const node = (name: string, dir: string): Subject => ({
  name,
  start: (port, env) =>
    spawn(Deno.execPath(), ["run", ...nodePermissionFlags(), `${dir}/main.ts`], {
      RATELIMITER_NODE_PORT: String(port),
      RATELIMITER_LISTEN_HOST: "127.0.0.1",
      RATELIMITER_NODE_HOST: "127.0.0.1",
      RATELIMITER_LOG_LEVEL: "warn",
      // The loads use limit 1,000,000 (never denied), above the default sliding-log policy.
      RATELIMITER_MAX_LIMIT: "1000000",
      ...(values.cache === undefined
        ? {}
        : { RATELIMITER_BLOCK_CACHE: String(values.cache === "on") }),
      ...env,
    }, dir),
});

/** The floor of this checkout: same answer (`full`) or `{allowed, remaining}` only (`minimal`). */
const floor = (name: string, answer: "full" | "minimal"): Subject => ({
  name,
  start: (port, env) =>
    spawn(Deno.execPath(), [
      "run",
      "--allow-net",
      "--allow-env=REDIS_DEBUG_MAINTENANCE,REDIS_EMIT_DIAGNOSTICS",
      `${ROOT}bench/floor_${store}.ts`,
      "--port",
      String(port),
      "--answer",
      answer,
      ...(env.RATELIMITER_REDIS_URL === undefined
        ? []
        : ["--redis-url", env.RATELIMITER_REDIS_URL]),
    ]),
});

const subjects = [
  ...(values.base === undefined ? [] : [node("base", values.base)]),
  node("this", ROOT.replace(/\/$/, "")),
  floor("floor", "full"),
  floor("floor-minimal", "minimal"),
];
const results = new Map<string, { rps: number[]; cpu: number[] }>(
  subjects.map((s) => [s.name, { rps: [], cpu: [] }]),
);

let redis: { child: Deno.ChildProcess; port: number } | undefined;
if (store === "redis") {
  const port = freePort();
  const child = spawn("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
  ]);
  redis = { child, port };
  await until(async () => {
    if ((await redisCli(port, "PING")) !== "PONG") throw new Error("not yet");
  });
}
const env: Record<string, string> = redis === undefined
  ? {}
  : { RATELIMITER_REDIS_URL: `redis://127.0.0.1:${redis.port}` };

try {
  for (let round = 0; round < rounds; round++) {
    for (const subject of subjects) {
      if (redis !== undefined) await redisCli(redis.port, "FLUSHALL");
      const port = freePort();
      const child = subject.start(port, env);
      const url = `http://127.0.0.1:${port}`;
      try {
        await until(async () => {
          const res = await fetch(`${url}/health`);
          await res.body?.cancel();
          if (!res.ok) throw new Error("not ready");
        });
        await wrk(url, warmup);
        const before = await cpuTicks(child.pid);
        const rps = await wrk(url, seconds);
        const after = await cpuTicks(child.pid);
        const cpu = ((after - before) * 1e4) / (rps * seconds);
        results.get(subject.name)!.rps.push(rps);
        results.get(subject.name)!.cpu.push(cpu);
        print(
          `round ${round + 1} ${subject.name}: ${rps.toFixed(0)} checks/s, ${
            cpu.toFixed(1)
          } µs CPU/check`,
        );
      } finally {
        await stop(child);
      }
    }
  }
} finally {
  if (redis !== undefined) await stop(redis.child);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const floorRps = median(results.get("floor")!.rps);
const floorCpu = median(results.get("floor")!.cpu);
const minimalRps = median(results.get("floor-minimal")!.rps);
print(
  `\n${store}${hot ? ", one hot key" : ", 10,000 keys"}${
    values.cache === undefined ? "" : `, block cache ${values.cache}`
  }: medians of ${rounds} rounds (${warmup} s warm-up + ${seconds} s, wrk -t1 -c${connections})`,
);
print(
  "| subject | checks/s | CPU µs/check | checks/s ÷ floor | floor CPU ÷ CPU | checks/s ÷ minimal floor |",
);
print("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const [name, r] of results) {
  const rps = median(r.rps);
  const cpu = median(r.cpu);
  print(
    `| ${name} | ${rps.toFixed(0)} | ${cpu.toFixed(1)} | ${(rps / floorRps).toFixed(2)} | ${
      (floorCpu / cpu).toFixed(2)
    } | ${(rps / minimalRps).toFixed(2)} |`,
  );
}
