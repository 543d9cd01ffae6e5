/**
 * Redis's cost of the check script alone, with no node in the way: `redis-benchmark` sends the
 * same EVALSHA (a sliding-log check of cost 1 under limit 1,000,000 and a 60 s window, so always
 * allowed, on `--keys` random keys) from `--clients` connections to a private `redis-server`,
 * and this prints per check: the script's own run time (`INFO commandstats`, EVALSHA
 * `usec_per_call`), the commands it calls, and the Redis process's CPU time (user + system, from
 * `INFO cpu`, so it includes reading requests and writing replies). With `--base DIR` (a checkout,
 * e.g. `git archive` of main) the scripts of both are measured in interleaved rounds, each on an
 * emptied Redis. With `--groups N` this checkout's batch script runs N checks per call (as
 * coalescing sends them; N random keys of the same `--keys`), and figures are per check.
 *
 *   deno run -A bench/script_cost.ts --base /tmp/base --rounds 3
 *   deno run -A bench/script_cost.ts --groups 8
 *
 * Starts its own `redis-server` on a free loopback port and stops it when done.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { freePort, pingRedis, redisServerArgs } from "../tools/local_redis.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    base: { type: "string" },
    rounds: { type: "string" },
    requests: { type: "string" },
    clients: { type: "string" },
    keys: { type: "string" },
    groups: { type: "string" },
  },
});
const rounds = Number(values.rounds ?? 3);
const requests = Number(values.requests ?? 100_000);
const clients = Number(values.clients ?? 64);
const keys = Number(values.keys ?? 10_000);
const groups = Number(values.groups ?? 1);
const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const decoder = new TextDecoder();

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
  return decoder.decode(out.stdout);
}

interface Subject {
  name: string;
  /** The script's source and the arguments after `EVALSHA <sha>` of one call. */
  source: string;
  args: string[];
  /** Checks per call. */
  checks: number;
}

async function subject(name: string, dir: string, n: number): Promise<Subject> {
  const scripts = await import(`${dir}/src/limiter/scripts.ts`);
  const limit = ["sl", "1000000", "60000", "1", "0"];
  if (n === 1) {
    return {
      name,
      source: scripts.CHECK_SCRIPT,
      args: ["1", "rl:sl:{k:__rand_int__}", "", ...limit],
      checks: 1,
    };
  }
  // redis-benchmark draws one random number per placeholder: n keys per call of the same key space.
  const keyList = Array.from({ length: n }, () => "rl:sl:{k:__rand_int__}");
  return {
    name,
    source: scripts.CHECK_BATCH_SCRIPT,
    args: [String(n), ...keyList, "", ...Array.from({ length: n }, () => ["1", ...limit]).flat()],
    checks: n,
  };
}

const subjects: Subject[] = [];
if (values.base !== undefined) subjects.push(await subject("base", values.base, 1));
subjects.push(await subject(groups === 1 ? "this" : `this, ${groups} per call`, ROOT, groups));

const port = freePort();
const redis = new Deno.Command("redis-server", {
  args: redisServerArgs(port),
  stdout: "null",
  stderr: "null",
}).spawn();
const cli = (...args: string[]) => run("redis-cli", ["-p", String(port), ...args]);
const cpuSeconds = (info: string) =>
  Number(/^used_cpu_user:([\d.]+)/m.exec(info)![1]) +
  Number(/^used_cpu_sys:([\d.]+)/m.exec(info)![1]);

interface Figures {
  scriptUs: number;
  cpuUs: number;
  commands: Map<string, number>;
  rps: number;
}
const results = new Map<string, Figures[]>(subjects.map((s) => [s.name, []]));

try {
  for (let i = 0; i < 100 && !(await pingRedis(port)); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const load = (await run("uptime", [])).trim();
  for (let round = 0; round < rounds; round++) {
    for (const s of subjects) {
      await cli("FLUSHALL");
      const sha = (await cli("SCRIPT", "LOAD", s.source)).trim();
      await cli("CONFIG", "RESETSTAT");
      const cpuBefore = cpuSeconds(await cli("INFO", "cpu"));
      const calls = Math.ceil(requests / s.checks);
      const out = await run("redis-benchmark", [
        "-p",
        String(port),
        "-c",
        String(clients),
        "-n",
        String(calls),
        "-r",
        String(keys),
        "-q",
        "EVALSHA",
        sha,
        ...s.args,
      ]);
      const cpu = cpuSeconds(await cli("INFO", "cpu")) - cpuBefore;
      const stats = await cli("INFO", "commandstats");
      const evalsha = /^cmdstat_evalsha:calls=(\d+),usec=(\d+)/m.exec(stats);
      if (evalsha === null || Number(evalsha[1]) !== calls) {
        throw new Error(`EVALSHA did not run ${calls} times:\n${stats}`);
      }
      const commands = new Map<string, number>();
      for (const m of stats.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
        if (["evalsha", "info"].includes(m[1]!) || m[1]!.startsWith("config")) continue;
        commands.set(m[1]!, Number(m[2]) / (calls * s.checks));
      }
      const rps = Number(/([\d.]+) requests per second/.exec(out.split("\r").at(-1)!)?.[1]);
      const checks = calls * s.checks;
      const f: Figures = {
        scriptUs: Number(evalsha[2]) / checks,
        cpuUs: (cpu * 1e6) / checks,
        commands,
        rps: rps * s.checks,
      };
      results.get(s.name)!.push(f);
      console.log(
        `round ${round + 1} ${s.name}: script ${f.scriptUs.toFixed(2)} µs/check, Redis CPU ${
          f.cpuUs.toFixed(1)
        } µs/check, ${f.rps.toFixed(0)} checks/s`,
      );
    }
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  console.log(
    `\nredis-benchmark -c ${clients}, ${requests} checks per round, ${keys} keys; medians of ${rounds} rounds; load at start: ${load}`,
  );
  console.log(
    "| script | script µs/check | Redis CPU µs/check | checks/s | commands per check |",
  );
  console.log("| --- | ---: | ---: | ---: | --- |");
  for (const [name, fs] of results) {
    const commands = [...fs[0]!.commands].map(([c, n]) => `${c} ${+n.toFixed(2)}`).join(", ");
    console.log(
      `| ${name} | ${median(fs.map((f) => f.scriptUs)).toFixed(2)} | ${
        median(fs.map((f) => f.cpuUs)).toFixed(1)
      } | ${median(fs.map((f) => f.rps)).toFixed(0)} | ${commands} |`,
    );
  }
} finally {
  try {
    redis.kill("SIGTERM");
  } catch { /* gone */ }
  await redis.status;
}
