/**
 * `deno task bench`: end-to-end benchmarks of `/check`, each against *floors* and a peer measured
 * in the same run, and the goals of issue 16 with their ratios. Starts its own redis-server, nodes,
 * floors and the Node peer on free loopback ports, stops them all by PID, prints a table and the
 * goals, and writes the generated section of `bench/RESULTS.md`.
 *
 * Baselines: `bench/floor_redis.ts` (fair floor: same script, same answer and headers),
 * `bench/floor_bare.ts` (bare floor: textbook script, four-field answer), `bench/floor_memory.ts`,
 * `bench/floor_parse.ts` (parse the body, answer a fixed JSON) and `bench/peers/fastify_rlf`
 * (fastify + rate-limiter-flexible on Node; its packages are installed with `npm ci` on first use).
 * The Redis, embedded, hot-key and two-process scenarios measure their subjects with `wrk` in
 * interleaved rounds (medians); the three-node and batch scenarios with both clients, one after the
 * other.
 *
 *   deno task bench                     # full: 2 s warm-up, 5 s per measurement, 3 rounds
 *   deno task bench --quick             # 1 s + 3 s, one round, to check the harness
 *   deno task bench --only hot --no-write --rounds 5
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
  /** Interleaved rounds of the goal scenarios (medians are reported). */
  rounds: number;
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
  /** CPU time redis-server used per check, µs, when the subject uses Redis. */
  redisCpuUs?: number;
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

/** Waits until the registry seen from `url` lists `count` nodes (processes sharing a port). */
async function waitNodes(url: string, count: number, proc: Proc): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/api/nodes`, { signal: AbortSignal.timeout(1000) });
      if ((await res.json()).nodes.length >= count) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${count} nodes never registered: ${proc.output.join("").slice(-2000)}`);
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

/** The floors: `bench/floor_<kind>.ts`. */
type FloorKind = "redis" | "memory" | "bare" | "parse";

async function startFloor(kind: FloorKind, redisUrl?: string) {
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

const PEER_DIR = path("bench/peers/fastify_rlf/");

/**
 * Installs the Node peer's packages from npm (`npm ci` with the lockfile, once per checkout); returns
 * why it cannot run, or `undefined` when it can.
 */
async function preparePeer(): Promise<string | undefined> {
  try {
    await Deno.stat(`${PEER_DIR}node_modules/rate-limiter-flexible/package.json`);
    return undefined;
  } catch { /* not installed yet */ }
  try {
    const out = await new Deno.Command("npm", {
      args: ["ci", "--no-audit", "--no-fund", "--loglevel=error"],
      cwd: PEER_DIR,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return out.success ? undefined : `npm ci failed: ${decoder.decode(out.stderr).slice(-300)}`;
  } catch (error) {
    return `npm not available: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** The Node peer (fastify + rate-limiter-flexible on Redis), `bench/peers/fastify_rlf`. */
async function startPeer(redisUrl: string): Promise<Server> {
  const port = freePort();
  const proc = spawn("peer-fastify-rlf", "node", [
    `${PEER_DIR}server.mjs`,
    "--port",
    String(port),
    "--redis-url",
    redisUrl,
  ]);
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
  redis: { url: string; port: number; pid: number };
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

/** One measurement of `urls` by `client`, with the CPU per check of `pids` and of Redis. */
async function measureOnce(
  ctx: Context,
  urls: string[],
  pids: number[],
  load: Load,
  client: "loadgen" | "wrk",
  usesRedis = true,
): Promise<Measurement | undefined> {
  const { durationS, connections } = ctx.options;
  const before = await cpuTicks(pids);
  const redisBefore = usesRedis ? await cpuTicks([ctx.redis.pid]) : undefined;
  const m = client === "loadgen"
    ? await loadgen(urls, load, durationS, connections)
    : await wrk(urls, load, durationS, connections);
  const after = await cpuTicks(pids);
  const redisAfter = usesRedis ? await cpuTicks([ctx.redis.pid]) : undefined;
  if (m !== undefined && m.cps > 0) {
    const perCheck = (ticks: number) => (ticks * 1e6) / CLOCK_TICKS / (m.cps * durationS);
    if (before !== undefined && after !== undefined) m.cpuUs = perCheck(after - before);
    if (redisBefore !== undefined && redisAfter !== undefined && redisAfter > redisBefore) {
      m.redisCpuUs = perCheck(redisAfter - redisBefore);
    }
  }
  return m;
}

/** Warms up, then measures `servers` with both clients. */
async function measure(
  ctx: Context,
  urls: string[],
  pids: number[],
  load: Load,
  clients: ("loadgen" | "wrk")[] = ["loadgen", "wrk"],
): Promise<Partial<Record<"loadgen" | "wrk", Measurement | undefined>>> {
  const { warmupS, connections } = ctx.options;
  await loadgen(urls, load, warmupS, connections);
  const result: Partial<Record<"loadgen" | "wrk", Measurement | undefined>> = {};
  for (const client of clients) {
    result[client] = await measureOnce(ctx, urls, pids, load, client);
  }
  return result;
}

/** One side of an interleaved comparison: a name and how to start its servers. */
interface Subject {
  name: string;
  start: () => Promise<Server[]>;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Per field, the median of several measurements of one subject. */
function medianOf(runs: Measurement[]): Measurement {
  const m = (f: (r: Measurement) => number | undefined) => {
    const values = runs.map(f).filter((v): v is number => v !== undefined);
    return values.length === 0 ? undefined : median(values);
  };
  const result: Measurement = {
    rps: m((r) => r.rps)!,
    cps: m((r) => r.cps)!,
    p50: m((r) => r.p50)!,
    p99: m((r) => r.p99)!,
    allowed: runs.reduce((a, r) => a + r.allowed, 0),
    blocked: runs.reduce((a, r) => a + r.blocked, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
  };
  const cpuUs = m((r) => r.cpuUs);
  const redisCpuUs = m((r) => r.redisCpuUs);
  if (cpuUs !== undefined) result.cpuUs = cpuUs;
  if (redisCpuUs !== undefined) result.redisCpuUs = redisCpuUs;
  return result;
}

/**
 * Starts every subject's servers (all idle but the one measured), warms each up, then measures them
 * with `wrk` in `rounds` interleaved rounds (A B C, A B C, …) and returns each one's medians: on a
 * machine shared with other jobs, a slow spell then hits every subject instead of one. Each `wrk`
 * run draws keys under a fresh prefix, so no subject finds another's counters.
 */
async function interleaved(
  ctx: Context,
  subjects: Subject[],
  load: Load,
  options: { sameUrl?: boolean; usesRedis?: boolean } = {},
): Promise<Map<string, Measurement>> {
  // Processes sharing a port share one URL: drive it once, count the CPU of all of them.
  const urlsOf = (servers: Server[]) =>
    options.sameUrl ? [servers[0]!.url] : servers.map((s) => s.url);
  const started: { subject: Subject; servers: Server[] }[] = [];
  try {
    for (const subject of subjects) started.push({ subject, servers: await subject.start() });
    const { warmupS, connections, rounds } = ctx.options;
    for (const { servers } of started) {
      await wrk(urlsOf(servers), load, warmupS, connections);
    }
    const runs = new Map<string, Measurement[]>(subjects.map((s) => [s.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const { subject, servers } of started) {
        const urls = urlsOf(servers);
        const pids = servers.map((s) => s.proc.child.pid);
        const m = await measureOnce(ctx, urls, pids, load, "wrk", options.usesRedis ?? true);
        if (m !== undefined) runs.get(subject.name)!.push(m);
      }
    }
    return new Map([...runs].map(([name, list]) => [name, medianOf(list)]));
  } finally {
    await Promise.all(started.flatMap((s) => s.servers.map((x) => stop(x.proc))));
  }
}

/** Rows of `subject` against each of `baselines`, from one {@linkcode interleaved} run. */
function interleavedRows(
  scenario: string,
  results: Map<string, Measurement>,
  pairs: [subject: string, baseline: string][],
): Row[] {
  return pairs.map(([subject, baseline]) => ({
    scenario,
    client: "wrk" as const,
    subject,
    subjectRun: results.get(subject),
    baseline,
    baselineRun: results.get(baseline),
  }));
}

async function withServers<T>(start: () => Promise<Server[]>, body: (s: Server[]) => Promise<T>) {
  const servers = await start();
  try {
    return await body(servers);
  } finally {
    await Promise.all(servers.map((s) => stop(s.proc)));
  }
}

/** The Node peer's name in the tables (a fixed window per key). */
const PEER = "fastify + rate-limiter-flexible";
/** The service on the peer's algorithm. */
const FIXED = "service, fixed_window";

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
      const redisUrl = ctx.redis.url;
      const subjects: Subject[] = [
        {
          name: "service",
          start: async () => [await startNode(freePort(), { RATELIMITER_REDIS_URL: redisUrl })],
        },
        { name: "fair floor", start: async () => [await startFloor("redis", redisUrl)] },
        { name: "bare floor", start: async () => [await startFloor("bare", redisUrl)] },
      ];
      const peerProblem = await preparePeer();
      if (peerProblem === undefined) {
        // rate-limiter-flexible counts a fixed window: the service on the same algorithm too.
        subjects.push({
          name: FIXED,
          start: async () => [
            await startNode(freePort(), {
              RATELIMITER_REDIS_URL: redisUrl,
              RATELIMITER_DEFAULT_ALGORITHM: "fixed_window",
            }),
          ],
        }, { name: PEER, start: async () => [await startPeer(redisUrl)] });
      } else {
        print(`  peer skipped: ${peerProblem}`);
      }
      const results = await interleaved(ctx, subjects, UNIFORM);
      const rows = interleavedRows(this.title, results, [
        ["service", "fair floor"],
        ["service", "bare floor"],
        ["service", PEER],
        [FIXED, PEER],
      ]);
      if (peerProblem !== undefined) {
        for (const row of rows.slice(2)) row.note = `skipped: ${peerProblem}`;
      }
      return rows;
    },
  },
  {
    id: "memory-uniform",
    title: "Embedded store, 10,000 uniform keys (all allowed)",
    async run(ctx) {
      const results = await interleaved(
        ctx,
        [
          { name: "service", start: async () => [await startNode(freePort(), {})] },
          { name: "floor", start: async () => [await startFloor("memory")] },
        ],
        UNIFORM,
        { usesRedis: false },
      );
      return interleavedRows(this.title, results, [["service", "floor"]]);
    },
  },
  {
    id: "hot",
    title: "Redis, one hot key far over its limit (10 per 60 s)",
    async run(ctx) {
      await redisCli(ctx.redis.port, "FLUSHALL");
      const redisUrl = ctx.redis.url;
      const node = (cache: boolean) => async () => [
        await startNode(freePort(), {
          RATELIMITER_REDIS_URL: redisUrl,
          RATELIMITER_BLOCK_CACHE: String(cache),
        }),
      ];
      const results = await interleaved(ctx, [
        { name: "service, block cache on", start: node(true) },
        { name: "service, block cache off", start: node(false) },
        { name: "fair floor", start: async () => [await startFloor("redis", redisUrl)] },
        { name: "parse + fixed JSON", start: async () => [await startFloor("parse")] },
      ], HOT);
      return interleavedRows(this.title, results, [
        ["service, block cache on", "service, block cache off"],
        ["service, block cache off", "fair floor"],
        ["service, block cache on", "parse + fixed JSON"],
      ]);
    },
  },
  {
    id: "reuse-port",
    title: "Redis, two processes sharing one port (RATELIMITER_REUSE_PORT), 10,000 uniform keys",
    async run(ctx) {
      await redisCli(ctx.redis.port, "FLUSHALL");
      const env = { RATELIMITER_REDIS_URL: ctx.redis.url, RATELIMITER_REUSE_PORT: "true" };
      const results = await interleaved(
        ctx,
        [
          { name: "one process", start: async () => [await startNode(freePort(), env)] },
          {
            name: "two processes",
            start: async () => {
              const port = freePort();
              const first = await startNode(port, env);
              const second = await startNode(port, env);
              await waitNodes(first.url, 2, second.proc);
              return [first, { url: second.url, proc: second.proc }];
            },
          },
        ],
        UNIFORM,
        { sameUrl: true },
      );
      return interleavedRows(this.title, results, [["two processes", "one process"]]);
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
const redisCpu = (m: Measurement | undefined) =>
  m?.redisCpuUs === undefined ? "–" : m.redisCpuUs.toFixed(1);

function ratio(row: Row): string {
  if (row.subjectRun === undefined || row.baselineRun === undefined) return row.note ?? "–";
  return (row.subjectRun.cps / row.baselineRun.cps).toFixed(2);
}

function table(rows: Row[]): string[] {
  const lines = [
    "| Scenario | Client | Subject | checks/s | p50 / p99 ms | CPU µs/check (Redis) | Baseline | checks/s | p50 / p99 ms | CPU µs/check (Redis) | Ratio | Errors |",
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
        `${cpu(r.subjectRun)} (${redisCpu(r.subjectRun)})`,
        r.baseline,
        rate(r.baselineRun),
        ms(r.baselineRun),
        `${cpu(r.baselineRun)} (${redisCpu(r.baselineRun)})`,
        ratio(r),
        String(errors),
        "",
      ].join(" | ").trim(),
    );
  }
  return lines;
}

/** A goal of issue 16: the ratio of two rows' subjects measured by `wrk` in the same run. */
interface Goal {
  text: string;
  scenario: string;
  subject: string;
  baseline: string;
  atLeast: number;
}

const GOALS: Goal[] = [
  {
    text: "Redis path: service ≥ 0.9× the fair floor (bench/floor_redis.ts)",
    scenario: "redis-uniform",
    subject: "service",
    baseline: "fair floor",
    atLeast: 0.9,
  },
  {
    text: "Redis path: service ≥ 0.75× the bare floor (bench/floor_bare.ts)",
    scenario: "redis-uniform",
    subject: "service",
    baseline: "bare floor",
    atLeast: 0.75,
  },
  {
    text: "Embedded store: service ≥ 0.85× bench/floor_memory.ts",
    scenario: "memory-uniform",
    subject: "service",
    baseline: "floor",
    atLeast: 0.85,
  },
  {
    text: "Hot key from the over-limit cache ≥ 0.9× parse + fixed JSON (bench/floor_parse.ts)",
    scenario: "hot",
    subject: "service, block cache on",
    baseline: "parse + fixed JSON",
    atLeast: 0.9,
  },
  {
    text:
      "Redis path: service on fixed_window ≥ 1.6× fastify + rate-limiter-flexible (Node; its Redis limiter is a fixed window)",
    scenario: "redis-uniform",
    subject: FIXED,
    baseline: PEER,
    atLeast: 1.6,
  },
  {
    text: "Redis path: service on its default sliding_log ≥ 1.6× the same peer",
    scenario: "redis-uniform",
    subject: "service",
    baseline: PEER,
    atLeast: 1.6,
  },
];

/** One line per goal whose scenario ran: its ratio in this run and whether it is met. */
function goalLines(rows: Row[], titles: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const goal of GOALS) {
    const title = titles.get(goal.scenario);
    if (title === undefined) continue;
    const row = rows.find((r) =>
      r.scenario === title && r.client === "wrk" && r.subject === goal.subject &&
      r.baseline === goal.baseline
    );
    const value = row?.subjectRun !== undefined && row.baselineRun !== undefined
      ? row.subjectRun.cps / row.baselineRun.cps
      : undefined;
    // Throughput decides the goal; the CPU ratio (baseline's CPU per check over the subject's)
    // says the same without the waiting, which a loaded machine inflates.
    const cpuSubject = row?.subjectRun?.cpuUs;
    const cpuBaseline = row?.baselineRun?.cpuUs;
    const cpuRatio = cpuSubject !== undefined && cpuBaseline !== undefined && cpuSubject > 0
      ? `; CPU per check: baseline ÷ subject ${(cpuBaseline / cpuSubject).toFixed(2)}`
      : "";
    const verdict = value === undefined
      ? `not measured${row?.note === undefined ? "" : ` (${row.note})`}`
      : `${value.toFixed(2)}× — ${value >= goal.atLeast ? "met" : "NOT met"}${cpuRatio}`;
    lines.push(`- ${goal.text}: ${verdict}`);
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
      rounds: { type: "string" },
    },
  });
  const quick = values.quick ?? false;
  const options: BenchOptions = {
    durationS: Number(values.duration ?? (quick ? 3 : 5)),
    rounds: Number(values.rounds ?? (quick ? 1 : 3)),
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
    `- Each measurement: ${options.warmupS} s warm-up, ${options.durationS} s, ${options.connections} connections (loadgen closed loop; wrk -t1); ${options.rounds} interleaved round(s) of wrk for the Redis, embedded, hot-key and two-process scenarios`,
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
      const result = await scenario.run({
        options,
        redis: { ...redis, pid: redis.proc.child.pid },
      });
      rows.push(...result);
      for (const line of table(result).slice(2)) print(line);
    }
  } finally {
    await stop(redis.proc);
    for (const proc of [...running]) await stop(proc);
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  const lines = table(rows);
  const goals = goalLines(rows, new Map(chosen.map((s) => [s.id, s.title])));
  print();
  print(lines.join("\n"));
  if (goals.length > 0) {
    print(["", "Goals of issue 16 (wrk, medians of interleaved rounds):", ...goals].join("\n"));
  }
  if (options.write) {
    const section = [
      `## Latest run: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC${
        quick ? " (quick)" : ""
      }`,
      "",
      ...header,
      `- Command: \`${command}\`; each measurement ${options.warmupS} s warm-up then ${options.durationS} s, ${options.connections} connections (loadgen: closed loop in its own process; wrk: \`-t1 -c${options.connections}\` with \`bench/wrk_check.lua\`); the Redis, embedded, hot-key and two-process scenarios: \`wrk\` only, ${options.rounds} interleaved round(s) after one warm-up each, medians`,
      "- Ratio: subject checks/s over baseline checks/s, both measured in this run. Client, servers and Redis share the machine's cores.",
      "",
      ...lines,
      ...(goals.length > 0
        ? ["", "Goals of issue 16 (`wrk`, medians of the interleaved rounds above):", "", ...goals]
        : []),
    ].join("\n");
    await writeResults(section);
    print(`\nwrote ${RESULTS}`);
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main());
}
