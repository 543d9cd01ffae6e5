/**
 * Redis's work per check counted in CPU instructions, which, unlike CPU time, do not depend on
 * what else the machine runs: `redis-server` runs under Valgrind (`cachegrind`, no cache
 * simulation) while `redis-benchmark` sends `--requests` sliding-log checks (as in
 * `bench/script_cost.ts`: cost 1, limit 1,000,000, a 60 s window, `--keys` random keys, 64
 * connections), and the instructions Redis executed (user space: parsing, the script, replies;
 * not the kernel's socket work) less those of a run with no check, divided by the checks, are
 * the figure. Subjects: the single check script of `--base` (a checkout) and of this checkout,
 * and this checkout's batch script with `--groups` checks per call (comma-separated sizes).
 *
 *   deno run -A bench/script_instructions.ts --base /tmp/base --groups 8,24
 *
 * Needs `valgrind`; each run starts and stops its own `redis-server` on a free loopback port.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { freePort, pingRedis, redisServerArgs } from "../tools/local_redis.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    base: { type: "string" },
    requests: { type: "string" },
    keys: { type: "string" },
    groups: { type: "string" },
  },
});
const requests = Number(values.requests ?? 4000);
const keys = Number(values.keys ?? 1000);
const groups = (values.groups ?? "24").split(",").map(Number);
const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const decoder = new TextDecoder();

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
  return decoder.decode(out.stdout);
}

interface Subject {
  name: string;
  source: string;
  /** Arguments after `EVALSHA <sha>`. */
  args: string[];
  checks: number;
}

async function subjectsOf(name: string, dir: string, sizes: number[]): Promise<Subject[]> {
  const scripts = await import(`${dir}/src/limiter/scripts.ts`);
  const limit = ["sl", "1000000", "60000", "1", "0"];
  const list: Subject[] = [{
    name,
    source: scripts.CHECK_SCRIPT,
    args: ["1", "rl:sl:{k:__rand_int__}", "", ...limit],
    checks: 1,
  }];
  for (const n of sizes) {
    list.push({
      name: `${name}, ${n} per call`,
      source: scripts.CHECK_BATCH_SCRIPT,
      args: [
        String(n),
        ...Array.from({ length: n }, () => "rl:sl:{k:__rand_int__}"),
        "",
        ...Array.from({ length: n }, () => ["1", ...limit]).flat(),
      ],
      checks: n,
    });
  }
  return list;
}

/**
 * Instructions a Valgrind-run Redis executes per check: after a warm-up of `checks` checks (so
 * keys are revisited, as in steady traffic), `checks` more are counted (`callgrind_control -z`,
 * then `-d`), less what Redis executes idle for as long (its cron).
 */
async function perCheck(s: Subject, checks: number): Promise<number> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "callgrind-" });
  const redis = new Deno.Command("valgrind", {
    args: [
      "--tool=callgrind",
      `--callgrind-out-file=${dir}/out`,
      "redis-server",
      ...redisServerArgs(port),
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const cli = (...args: string[]) => run("redis-cli", ["-p", String(port), ...args]);
  const control = (flag: string) => run("callgrind_control", [flag, String(redis.pid)]);
  /** Instructions since the last zeroing, from a fresh dump. */
  const counted = async () => {
    await control("-d");
    let total = 0;
    for await (const entry of Deno.readDir(dir)) {
      const text = await Deno.readTextFile(`${dir}/${entry.name}`);
      const match = /^totals:\s+(\d+)/m.exec(text) ?? /^summary:\s+(\d+)/m.exec(text);
      if (match !== null && entry.name !== "out") total = Math.max(total, Number(match[1]));
      await Deno.remove(`${dir}/${entry.name}`);
    }
    return total;
  };
  try {
    for (let i = 0; i < 600 && !(await pingRedis(port)); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const sha = (await cli("SCRIPT", "LOAD", s.source)).trim();
    const send = () =>
      run("redis-benchmark", [
        "-p",
        String(port),
        "-c",
        "64",
        "-n",
        String(Math.ceil(checks / s.checks)),
        "-r",
        String(keys),
        "-q",
        "EVALSHA",
        sha,
        ...s.args,
      ]);
    await send();
    await control("-z");
    const started = performance.now();
    await send();
    const busy = await counted();
    const took = performance.now() - started;
    await control("-z");
    await new Promise((r) => setTimeout(r, took));
    const idle = await counted();
    await cli("SHUTDOWN", "NOSAVE");
    await redis.status;
    return (busy - idle) / (Math.ceil(checks / s.checks) * s.checks);
  } catch (error) {
    redis.kill("SIGKILL");
    await redis.status;
    throw error;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const subjects = [
  ...(values.base === undefined ? [] : (await subjectsOf("base", values.base, []))),
  ...(await subjectsOf("this", ROOT, groups)),
];
const load = (await run("uptime", [])).trim();
console.log(`| script | instructions per check |\n| --- | ---: |`);
for (const s of subjects) {
  console.log(`| ${s.name} | ${Math.round(await perCheck(s, requests)).toLocaleString("en")} |`);
}
console.log(
  `\nvalgrind --tool=callgrind redis-server; redis-benchmark -c 64, ${requests} checks after as many to warm up, ${keys} keys; load at start: ${load}`,
);
