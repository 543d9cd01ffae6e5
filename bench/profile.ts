/**
 * Profiles one node's hot path under load: starts a node with `--inspect`, drives it with `wrk`,
 * records a V8 CPU profile over the inspector protocol, and prints where the time went (self time
 * by function, and inclusive time by module). Deno 2.9 has no `--cpu-prof`; this does the same.
 *
 *   deno run -A bench/profile.ts --store redis --keys 10000 --seconds 10
 *   deno run -A bench/profile.ts --store memory
 *   deno run -A bench/profile.ts --store redis --keys 1 --limit 10       # hot blocked key
 *   deno run -A bench/profile.ts --store redis --floor redis             # the fair floor instead
 *
 * Writes the raw profile to bench/out/<name>.cpuprofile (open it in Chrome DevTools).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { nodePermissionFlags } from "../tools/node_permissions.ts";
import { freePort } from "../tools/local_redis.ts";

const ROOT = new URL("../", import.meta.url);
const path = (p: string) => new URL(p, ROOT).pathname;
const print = (line = "") => Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));

const { values } = parseArgs({
  args: Deno.args,
  options: {
    store: { type: "string" },
    keys: { type: "string" },
    limit: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string" },
    env: { type: "string", multiple: true },
    name: { type: "string" },
    floor: { type: "string" },
  },
});
/** Profile a floor (`bench/floor_<floor>.ts`) instead of the node, to compare the two. */
const floor = values.floor;
const store = values.store ?? "redis";
const keys = Number(values.keys ?? 10_000);
const limit = Number(values.limit ?? 1_000_000);
const seconds = Number(values.seconds ?? 10);
const connections = Number(values.connections ?? 50);
const name = values.name ??
  `${floor === undefined ? "" : `floor_${floor}-`}${store}-${keys === 1 ? "hot" : `${keys}keys`}`;

const children: Deno.ChildProcess[] = [];
function spawn(cmd: string, args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(cmd, { args, env, stdout: "null", stderr: "null", stdin: "null" })
    .spawn();
  children.push(child);
  return child;
}

async function until(probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("timed out waiting for a process");
}

const env: Record<string, string> = {};
for (const pair of values.env ?? []) {
  const [k, ...v] = pair.split("=");
  env[k!] = v.join("=");
}

try {
  if (store === "redis") {
    const redisPort = freePort();
    spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", ""]);
    env.RATELIMITER_REDIS_URL = `redis://127.0.0.1:${redisPort}`;
    await until(async () => {
      const conn = await Deno.connect({ port: redisPort });
      conn.close();
      return true;
    });
  }
  const port = freePort();
  const inspectPort = freePort();
  spawn(
    Deno.execPath(),
    floor === undefined
      ? ["run", `--inspect=127.0.0.1:${inspectPort}`, ...nodePermissionFlags(), path("main.ts")]
      : [
        "run",
        `--inspect=127.0.0.1:${inspectPort}`,
        "--allow-net",
        "--allow-env",
        path(`bench/floor_${floor}.ts`),
        "--port",
        String(port),
        ...(env.RATELIMITER_REDIS_URL === undefined
          ? []
          : ["--redis-url", env.RATELIMITER_REDIS_URL]),
      ],
    {
      RATELIMITER_NODE_PORT: String(port),
      RATELIMITER_LISTEN_HOST: "127.0.0.1",
      RATELIMITER_LOG_LEVEL: "warn",
      // The load uses limit 1,000,000 (never denied), above the default limits policy.
      RATELIMITER_MAX_LIMIT: "1000000",
      ...env,
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await until(async () =>
    (await fetch(`${url}/health`).then((r) => r.body?.cancel())) === undefined
  );

  const wrk = (s: number) =>
    new Deno.Command("wrk", {
      args: [
        "-t1",
        `-c${connections}`,
        `-d${s}s`,
        "-s",
        path("bench/wrk_check.lua"),
        url,
        "--",
        String(keys),
        String(limit),
        "60000",
        "prof",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  await wrk(2); // warm-up: JIT and caches

  const targets = await (await fetch(`http://127.0.0.1:${inspectPort}/json`)).json();
  const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve) => socket.onopen = resolve);
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 100 });
  await send("Profiler.start");
  const load = await wrk(seconds);
  const { profile } = await send("Profiler.stop") as { profile: CpuProfile };
  socket.close();
  const wrkLine = new TextDecoder().decode(load.stdout).split("\n").find((l) =>
    l.startsWith("WRK_JSON")
  );
  await Deno.mkdir(path("bench/out"), { recursive: true });
  await Deno.writeTextFile(path(`bench/out/${name}.cpuprofile`), JSON.stringify(profile));
  print(`profile: bench/out/${name}.cpuprofile`);
  print(`load: ${wrkLine}`);
  summarise(profile);
} finally {
  for (const child of children.reverse()) {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  }
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Which module a frame belongs to, for the inclusive breakdown. */
function moduleOf(url: string, fn: string): string {
  if (url === "") return fn.startsWith("(") ? fn : "(native)";
  const npm = /registry\.npmjs\.org\/(@[^/]+\/[^/]+|[^/]+)\//.exec(url);
  if (npm) return `npm:${npm[1]}`;
  if (url.startsWith("ext:")) return url.split("/").slice(0, 2).join("/");
  const local = /\/(src\/.*|main\.ts)$/.exec(url);
  if (local) return local[1]!;
  return url;
}

function summarise(profile: CpuProfile): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const node = byId.get(id)!;
    const f = node.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${moduleOf(f.url, f.functionName)}:${
      f.lineNumber + 1
    }`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      const m = moduleOf(cf.url, cf.functionName);
      if (m === "(root)" || seen.has(m)) continue;
      seen.add(m);
      inclusive.set(m, (inclusive.get(m) ?? 0) + dt);
    }
  });
  const pct = (v: number) => `${((100 * v) / total).toFixed(1).padStart(5)} %`;
  print(`\nsampled ${(total / 1e6).toFixed(2)} s of CPU samples\n\nself time, top 30:`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) print(`${pct(v)}  ${k}`);
  print("\ninclusive time by module (a sample counts once per module on its stack), top 30:");
  for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
    print(`${pct(v)}  ${k}`);
  }
}
