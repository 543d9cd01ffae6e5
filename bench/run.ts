/**
 * `deno task bench`: end-to-end benchmarks of `/check`, each against a *floor* measured in the same
 * run (a bare `Deno.serve` handler doing the same JSON parse and the same store call), with two
 * clients (the project's load generator and `wrk`). Starts its own redis-server, nodes and floors
 * on free loopback ports, stops them all by PID, prints a table and writes the generated section
 * of `bench/RESULTS.md`.
 *
 *   deno task bench                     # full: 2 s warm-up + 10 s per measurement
 *   deno task bench --quick             # 1 s + 3 s, to check the harness
 *   deno task bench --only hot --no-write
 *
 * Ratios, never absolute thresholds: the numbers depend on the machine; the ratio service/floor
 * says what the service's own code (framework, validation, metrics, headers) costs.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { nodePermissionFlags } from "../tools/node_permissions.ts";
import { freePort, pingRedis, redisServerArgs } from "../tools/local_redis.ts";

const ROOT = new URL("../", import.meta.url);
const path = (p: string) => new URL(p, ROOT).pathname;
const RESULTS = path("bench/RESULTS.md");
const START = "<!-- bench:start -->";
const END = "<!-- bench:end -->";
const decoder = new TextDecoder();
const encoder = new TextEncoder();
const print = (line = "") => Deno.stdout.writeSync(encoder.encode(line + "\n"));

interface BenchOptions {
  durationS: number;
  warmupS: number;
  connections: number;
  only: string | undefined;
  write: boolean;
  quick: boolean;
}

/** One client's measurement of one server. */
interface Measurement {
  rps: number;
  /** Checks per second (differs from rps for the batch endpoint). */
  cps: number;
  p50: number;
  p99: number;
  allowed: number;
  blocked: number;
  errors: number;
  /** CPU time the server processes used per check, µs (immune to waiting, not to contention). */
  cpuUs?: number;
}

/** One line of the results table. */
interface Row {
  scenario: string;
  client: "loadgen" | "wrk";
  subject: string;
  subjectRun: Measurement | undefined;
  baseline: string;
  baselineRun: Measurement | undefined;
  note?: string;
}

// ---- processes ---------------------------------------------------------------------------------

interface Proc {
  name: string;
  child: Deno.ChildProcess;
  output: string[];
  done: Promise<Deno.CommandStatus>;
}

const running = new Set<Proc>();

function spawn(name: string, command: string, args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      output.push(chunk);
      if (output.length > 200) output.shift();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const proc: Proc = {
    name,
    child,
    output,
    done: child.status.then(async (s) => {
      await pumps;
      running.delete(proc);
      return s;
    }),
  };
  running.add(proc);
  return proc;
}

async function stop(proc: Proc): Promise<void> {
  try {
    proc.child.kill("SIGTERM");
  } catch { /* already exited */ }
  const timer = setTimeout(() => {
    try {
      proc.child.kill("SIGKILL");
    } catch { /* already exited */ }
  }, 15_000);
  await proc.done;
  clearTimeout(timer);
}

async function waitHttp(url: string, proc: Proc): Promise<void> {
  const deadline = Date.now() + 30_000;
  let exited = false;
  proc.done.then(() => exited = true);
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name} did not serve ${url}: ${proc.output.join("").slice(-2000)}`);
}

async function startRedis(): Promise<{ url: string; port: number; proc: Proc }> {
  const port = freePort();
  const proc = spawn("redis", "redis-server", redisServerArgs(port));
  for (let i = 0; i < 100; i++) {
    if (await pingRedis(port)) {
      return { url: `redis://127.0.0.1:${port}`, port, proc };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("redis-server did not answer PING");
}

async function redisCli(port: number, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("redis-cli", {
    args: ["-p", String(port), ...args],
    stdout: "piped",
    stderr: "null",
  }).output();
  return decoder.decode(out.stdout).trim();
}

async function startNode(
  port: number,
  env: Record<string, string>,
): Promise<{ url: string; proc: Proc }> {
  const proc = spawn(`node:${port}`, Deno.execPath(), [
    "run",
    ...nodePermissionFlags(),
    path("main.ts"),
  ], {
    RATELIMITER_NODE_PORT: String(port),
    RATELIMITER_LISTEN_HOST: "127.0.0.1",
    RATELIMITER_NODE_HOST: "127.0.0.1",
    RATELIMITER_LOG_LEVEL: "warn",
    RATELIMITER_GRPC_PORT: "0",
    // The loads use limit 1,000,000 (never denied), above the default sliding-log policy.
    RATELIMITER_MAX_LIMIT: "1000000",
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/health`, proc);
  return { url, proc };
}

async function startFloor(kind: "redis" | "memory", redisUrl?: string) {
  const port = freePort();
  const args = [
    "run",
    "--allow-net",
    "--allow-env=REDIS_DEBUG_MAINTENANCE,REDIS_EMIT_DIAGNOSTICS",
    path(`bench/floor_${kind}.ts`),
    "--port",
    String(port),
  ];
  if (redisUrl !== undefined) args.push("--redis-url", redisUrl);
  const proc = spawn(`floor-${kind}`, Deno.execPath(), args);
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/health`, proc);
  return { url, proc };
}

// ---- clients -----------------------------------------------------------------------------------

interface Load {
  keys: number;
  limit: number;
  windowMs: number;
  batch?: number;
}

/** Runs the load generator in its own process; `undefined` when the endpoint is missing. */
async function loadgen(
  targets: string[],
  load: Load,
  seconds: number,
  connections: number,
): Promise<Measurement | undefined> {
  const args = [
    "run",
    "--allow-net",
    path("tools/loadgen.ts"),
    ...targets.flatMap((t) => ["-t", t]),
    "-d",
    `${seconds}s`,
    "-c",
    String(connections),
    "--keys",
    load.keys === 1 ? "single" : `uniform:${load.keys}`,
    "--limit",
    String(load.limit),
    "--window-ms",
    String(load.windowMs),
    "--json",
    "-q",
  ];
  if (load.batch !== undefined) args.push("--batch", String(load.batch));
  const out = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" })
    .output();
  if (out.code === 3) return undefined;
  if (out.code !== 0) {
    throw new Error(`loadgen failed (${out.code}): ${decoder.decode(out.stderr)}`);
  }
  const s = JSON.parse(decoder.decode(out.stdout));
  return {
    rps: s.requestsPerSec,
    cps: s.checksPerSec,
    p50: s.latencyMs.p50,
    p99: s.latencyMs.p99,
    allowed: s.allowed,
    blocked: s.blocked,
    errors: s.errors,
  };
}

/** The line `bench/wrk_check.lua` prints. */
interface WrkResult {
  requests: number;
  duration_us: number;
  allowed: number;
  blocked: number;
  other: number;
  errors: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
}

/** Runs wrk against each target at once (one process each) and sums them. */
async function wrk(
  targets: string[],
  load: Load,
  seconds: number,
  connections: number,
): Promise<Measurement> {
  const perTarget = Math.max(1, Math.floor(connections / targets.length));
  const prefix = `wrk${crypto.randomUUID().slice(0, 6)}`;
  const runs = await Promise.all(targets.map(async (url) => {
    const out = await new Deno.Command("wrk", {
      args: [
        "-t1",
        `-c${perTarget}`,
        `-d${seconds}s`,
        "-s",
        path("bench/wrk_check.lua"),
        url,
        "--",
        String(load.keys),
        String(load.limit),
        String(load.windowMs),
        prefix,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = decoder.decode(out.stdout);
    const line = text.split("\n").find((l) => l.startsWith("WRK_JSON "));
    if (!out.success || line === undefined) {
      throw new Error(`wrk failed: ${text} ${decoder.decode(out.stderr)}`);
    }
    return JSON.parse(line.slice("WRK_JSON ".length)) as WrkResult;
  }));
  const sum = (f: (r: WrkResult) => number) => runs.reduce((a, r) => a + f(r), 0);
  const durationS = Math.max(...runs.map((r) => r.duration_us)) / 1e6;
  const rps = sum((r) => r.requests) / durationS;
  return {
    rps,
    cps: rps,
    // Latency of several wrk processes: the worst of their percentiles (an upper bound).
    p50: Math.max(...runs.map((r) => r.p50_us)) / 1000,
    p99: Math.max(...runs.map((r) => r.p99_us)) / 1000,
    allowed: sum((r) => r.allowed),
    blocked: sum((r) => r.blocked),
    errors: sum((r) => r.errors + r.other),
  };
}

// ---- scenarios ---------------------------------------------------------------------------------

interface Context {
  options: BenchOptions;
  redis: { url: string; port: number };
}

type Server = { url: string; proc: Proc };

/** Kernel clock ticks per second (USER_HZ), the unit of /proc/<pid>/stat CPU times. */
const CLOCK_TICKS = 100;

/** User + system CPU ticks of `pids` so far, read with cat (Deno reads /proc only with -A). */
async function cpuTicks(pids: number[]): Promise<number | undefined> {
  const out = await new Deno.Command("cat", {
    args: pids.map((pid) => `/proc/${pid}/stat`),
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) return undefined;
  let total = 0;
  for (const line of decoder.decode(out.stdout).trim().split("\n")) {
    // After the ")" that closes the command name: field 3 (state) first; utime 14, stime 15.
    const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
    total += Number(fields[11]) + Number(fields[12]);
  }
  return total;
}

/** Warms up, then measures `servers` with both clients. */
async function measure(
  ctx: Context,
  urls: string[],
  pids: number[],
  load: Load,
  clients: ("loadgen" | "wrk")[] = ["loadgen", "wrk"],
): Promise<Partial<Record<"loadgen" | "wrk", Measurement | undefined>>> {
  const { durationS, warmupS, connections } = ctx.options;
  await loadgen(urls, load, warmupS, connections);
  const result: Partial<Record<"loadgen" | "wrk", Measurement | undefined>> = {};
  for (const client of clients) {
    const before = await cpuTicks(pids);
    const m = client === "loadgen"
      ? await loadgen(urls, load, durationS, connections)
      : await wrk(urls, load, durationS, connections);
    const after = await cpuTicks(pids);
    if (m !== undefined && before !== undefined && after !== undefined && m.cps > 0) {
      m.cpuUs = ((after - before) * 1e6) / CLOCK_TICKS / (m.cps * durationS);
    }
    result[client] = m;
  }
  return result;
}

async function withServers<T>(start: () => Promise<Server[]>, body: (s: Server[]) => Promise<T>) {
  const servers = await start();
  try {
    return await body(servers);
  } finally {
    await Promise.all(servers.map((s) => stop(s.proc)));
  }
}

const UNIFORM: Load = { keys: 10_000, limit: 1_000_000, windowMs: 60_000 };
const HOT: Load = { keys: 1, limit: 10, windowMs: 60_000 };

interface Scenario {
  id: string;
  title: string;
  run(ctx: Context): Promise<Row[]>;
}

function pairRows(
  scenario: string,
  subject: string,
  a: Partial<Record<"loadgen" | "wrk", Measurement | undefined>>,
  baseline: string,
  b: Partial<Record<"loadgen" | "wrk", Measurement | undefined>>,
): Row[] {
  return (["loadgen", "wrk"] as const).filter((c) => c in a).map((client) => ({
    scenario,
    client,
    subject,
    subjectRun: a[client],
    baseline,
    baselineRun: b[client],
  }));
}

const SCENARIOS: Scenario[] = [
  {
    id: "redis-uniform",
    title: "Redis, one node, 10,000 uniform keys (all allowed)",
    async run(ctx) {
      await redisCli(ctx.redis.port, "FLUSHALL");
      const service = await withServers(
        async () => [await startNode(freePort(), { RATELIMITER_REDIS_URL: ctx.redis.url })],
        (s) => measure(ctx, s.map((x) => x.url), s.map((x) => x.proc.child.pid), UNIFORM),
      );
      await redisCli(ctx.redis.port, "FLUSHALL");
      const floor = await withServers(
        async () => [await startFloor("redis", ctx.redis.url)],
        (s) => measure(ctx, s.map((x) => x.url), s.map((x) => x.proc.child.pid), UNIFORM),
      );
      return pairRows(this.title, "service", service, "floor", floor);
    },
  },
  {
    id: "memory-uniform",
    title: "Embedded store, 10,000 uniform keys (all allowed)",
    async run(ctx) {
      const service = await withServers(
        async () => [await startNode(freePort(), {})],
        (s) => measure(ctx, s.map((x) => x.url), s.map((x) => x.proc.child.pid), UNIFORM),
      );
      const floor = await withServers(
        async () => [await startFloor("memory")],
        (s) => measure(ctx, s.map((x) => x.url), s.map((x) => x.proc.child.pid), UNIFORM),
      );
      return pairRows(this.title, "service", service, "floor", floor);
    },
  },
  {
    id: "hot",
    title: "Redis, one hot key far over its limit (10 per 60 s)",
    async run(ctx) {
      const runNode = async (cache: boolean) => {
        await redisCli(ctx.redis.port, "FLUSHALL");
        return await withServers(
          async () => [
            await startNode(freePort(), {
              RATELIMITER_REDIS_URL: ctx.redis.url,
              RATELIMITER_BLOCK_CACHE: String(cache),
            }),
          ],
          (s) => measure(ctx, s.map((x) => x.url), s.map((x) => x.proc.child.pid), HOT),
        );
      };
      const cached = await runNode(true);
      const uncached = await runNode(false);
      await redisCli(ctx.redis.port, "FLUSHALL");
      const floor = await withServers(
        async () => [await startFloor("redis", ctx.redis.url)],
        (s) => measure(ctx, s.map((x) => x.url), s.map((x) => x.proc.child.pid), HOT),
      );
      return [
        ...pairRows(this.title, "service, block cache on", cached, "block cache off", uncached),
        ...pairRows(this.title, "service, block cache off", uncached, "floor", floor),
        ...pairRows(this.title, "service, block cache on", cached, "floor", floor),
      ];
    },
  },
  {
    id: "three-nodes",
    title: "Redis, three nodes (aggregate), 10,000 uniform keys",
    async run(ctx) {
      await redisCli(ctx.redis.port, "FLUSHALL");
      const one = await withServers(
        async () => [await startNode(freePort(), { RATELIMITER_REDIS_URL: ctx.redis.url })],
        (s) => measure(ctx, s.map((x) => x.url), s.map((x) => x.proc.child.pid), UNIFORM),
      );
      await redisCli(ctx.redis.port, "FLUSHALL");
      const three = await withServers(
        async () =>
          await Promise.all(
            [0, 1, 2].map(() => startNode(freePort(), { RATELIMITER_REDIS_URL: ctx.redis.url })),
          ),
        (s) => measure(ctx, s.map((x) => x.url), s.map((x) => x.proc.child.pid), UNIFORM),
      );
      return pairRows(this.title, "three nodes", three, "one node", one);
    },
  },
  {
    id: "batch",
    title: "Redis, POST /check/batch with 100 checks per request (checks/s)",
    async run(ctx) {
      await redisCli(ctx.redis.port, "FLUSHALL");
      return await withServers(
        async () => [await startNode(freePort(), { RATELIMITER_REDIS_URL: ctx.redis.url })],
        async (s) => {
          const urls = s.map((x) => x.url);
          const probe = await loadgen(urls, { ...UNIFORM, batch: 100 }, 1, 1);
          if (probe === undefined) {
            return [{
              scenario: this.title,
              client: "loadgen" as const,
              subject: "batch of 100",
              subjectRun: undefined,
              baseline: "single /check",
              baselineRun: undefined,
              note: "skipped: endpoint not present",
            }];
          }
          const pids = s.map((x) => x.proc.child.pid);
          const batch = await measure(ctx, urls, pids, { ...UNIFORM, batch: 100 }, ["loadgen"]);
          const single = await measure(ctx, urls, pids, UNIFORM, ["loadgen"]);
          return pairRows(this.title, "batch of 100", batch, "single /check", single);
        },
      );
    },
  },
];

// ---- report ------------------------------------------------------------------------------------

const num = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });
const ms = (m: Measurement | undefined) =>
  m === undefined ? "–" : `${m.p50.toFixed(2)} / ${m.p99.toFixed(2)}`;
const rate = (m: Measurement | undefined) => m === undefined ? "–" : num(m.cps);
const cpu = (m: Measurement | undefined) => m?.cpuUs === undefined ? "–" : m.cpuUs.toFixed(0);

function ratio(row: Row): string {
  if (row.subjectRun === undefined || row.baselineRun === undefined) return row.note ?? "–";
  return (row.subjectRun.cps / row.baselineRun.cps).toFixed(2);
}

function table(rows: Row[]): string[] {
  const lines = [
    "| Scenario | Client | Subject | checks/s | p50 / p99 ms | CPU µs/check | Baseline | checks/s | p50 / p99 ms | CPU µs/check | Ratio | Errors |",
    "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const errors = (r.subjectRun?.errors ?? 0) + (r.baselineRun?.errors ?? 0);
    lines.push(
      [
        "",
        r.scenario,
        r.client,
        r.subject,
        rate(r.subjectRun),
        ms(r.subjectRun),
        cpu(r.subjectRun),
        r.baseline,
        rate(r.baselineRun),
        ms(r.baselineRun),
        cpu(r.baselineRun),
        ratio(r),
        String(errors),
        "",
      ].join(" | ").trim(),
    );
  }
  return lines;
}

async function commandOutput(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return (decoder.decode(out.stdout) + decoder.decode(out.stderr)).trim();
  } catch {
    return "not found";
  }
}

async function commandLine(cmd: string, args: string[]): Promise<string> {
  return (await commandOutput(cmd, args)).split("\n")[0]!;
}

async function machine(): Promise<string[]> {
  // Deno reads /proc only with --allow-all; cat reads it under --allow-run.
  const cpuinfo = await commandOutput("cat", ["/proc/cpuinfo"]);
  const cpu = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? "unknown CPU";
  const memGiB = Deno.systemMemoryInfo().total / 1024 ** 3;
  const load = Deno.loadavg().map((l) => l.toFixed(2)).join(" ");
  return [
    `- Machine: ${navigator.hardwareConcurrency} CPUs (${cpu}), ${
      memGiB.toFixed(1)
    } GiB, ${Deno.build.os}/${Deno.build.arch}; load average at start ${load}`,
    `- Versions: deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ${await commandLine(
      "redis-server",
      ["--version"],
    )}, ${await commandLine("wrk", ["-v"])}`,
  ];
}

async function writeResults(section: string): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(RESULTS);
  } catch {
    text = `# Benchmark results\n\n${START}\n${END}\n`;
  }
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) text = `${text.trimEnd()}\n\n${START}\n${END}\n`;
  const s = text.indexOf(START);
  const e = text.indexOf(END);
  await Deno.writeTextFile(
    RESULTS,
    text.slice(0, s + START.length) + "\n" + section + "\n" + text.slice(e),
  );
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string" },
      only: { type: "string" },
      quick: { type: "boolean" },
      "no-write": { type: "boolean" },
    },
  });
  const quick = values.quick ?? false;
  const options: BenchOptions = {
    durationS: Number(values.duration ?? (quick ? 3 : 10)),
    warmupS: Number(values.warmup ?? (quick ? 1 : 2)),
    connections: Number(values.connections ?? 50),
    only: values.only,
    write: !(values["no-write"] ?? false),
    quick,
  };
  const chosen = SCENARIOS.filter((s) => options.only === undefined || s.id.includes(options.only));
  const header = await machine();
  const command = `deno task bench ${Deno.args.join(" ")}`.trim();
  print(header.join("\n"));
  print(
    `- Each measurement: ${options.warmupS} s warm-up, ${options.durationS} s, ${options.connections} connections (loadgen closed loop; wrk -t1)`,
  );
  print();

  const onSignal = () => {
    for (const proc of running) {
      try {
        proc.child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  const redis = await startRedis();
  const rows: Row[] = [];
  try {
    for (const scenario of chosen) {
      print(`running: ${scenario.title}`);
      const result = await scenario.run({ options, redis });
      rows.push(...result);
      for (const line of table(result).slice(2)) print(line);
    }
  } finally {
    await stop(redis.proc);
    for (const proc of [...running]) await stop(proc);
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  const lines = table(rows);
  print();
  print(lines.join("\n"));
  if (options.write) {
    const section = [
      `## Latest run: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC${
        quick ? " (quick)" : ""
      }`,
      "",
      ...header,
      `- Command: \`${command}\`; each measurement ${options.warmupS} s warm-up then ${options.durationS} s, ${options.connections} connections (loadgen: closed loop in its own process; wrk: \`-t1 -c${options.connections}\` with \`bench/wrk_check.lua\`)`,
      "- Ratio: subject checks/s over baseline checks/s, both measured in this run. Client, servers and Redis share the machine's cores.",
      "",
      ...lines,
    ].join("\n");
    await writeResults(section);
    print(`\nwrote ${RESULTS}`);
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main());
}
