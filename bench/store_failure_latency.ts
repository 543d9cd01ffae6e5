/**
 * Measures `/check` latency while Redis is healthy, killed, paused (`CLIENT PAUSE`) and frozen
 * (SIGSTOP, like an unreachable host), in each failure mode, and how long exact limiting takes to
 * resume after Redis restarts empty. Starts its own redis-server and one `main.ts` node per mode on
 * loopback ports and stops them by PID. Prints a Markdown table.
 *
 *     deno run -A bench/store_failure_latency.ts [--seconds=2] [--clients=8] [--timeout-ms=100]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type LoadResult, runLoad } from "../tests/_helpers/load.ts";
import { startNode, type TestNode } from "../tests/_helpers/node_process.ts";
import { startRedis, type TestRedis } from "../tests/_helpers/redis_server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "2" },
    clients: { type: "string", default: "8" },
    "timeout-ms": { type: "string", default: "100" },
  },
});
const SECONDS = Number(values.seconds);
const CLIENTS = Number(values.clients);
const TIMEOUT_MS = values["timeout-ms"]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends one command over a raw connection: spawning redis-cli in the middle of a measured phase
 * would stall this process's own event loop and show up as latency.
 */
async function command(port: number, ...args: string[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const resp = `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join("")}`;
    await conn.write(new TextEncoder().encode(resp));
    const buf = new Uint8Array(256);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim();
  } finally {
    conn.close();
  }
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Row {
  mode: string;
  phase: string;
  requests: number;
  statuses: string;
  p50: number;
  p99: number;
  max: number;
}

function summarise(mode: string, phase: string, results: LoadResult[]): Row {
  const ms = results.map((r) => r.endedAt - r.startedAt).sort((a, b) => a - b);
  const counts = new Map<string, number>();
  for (const r of results) {
    const label = r.status === 0 ? "error" : `${r.status}${r.degraded ? ` ${r.degraded}` : ""}`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return {
    mode,
    phase,
    requests: results.length,
    statuses: [...counts].sort().map(([k, v]) => `${k}: ${v}`).join(", "),
    p50: quantile(ms, 0.5),
    p99: quantile(ms, 0.99),
    max: ms.at(-1) ?? NaN,
  };
}

/** Runs the load for SECONDS, calling `fault` right after it starts. */
async function measure(node: TestNode, label: string, fault: () => Promise<void> | void) {
  const stop = new AbortController();
  const load = runLoad({
    urls: [node.url],
    clients: CLIENTS,
    body: (c, n) => ({ key: `${label}:${c}:${n % 50}`, limit: 1_000_000, window_ms: 60_000 }),
    signal: stop.signal,
    pauseMs: 0,
    requestTimeoutMs: 30_000,
  });
  await fault();
  await sleep(SECONDS * 1000);
  stop.abort();
  return await load;
}

async function waitExact(node: TestNode): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < 30_000) {
    const res = await fetch(`${node.url}/check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: `probe:${Math.random()}`, limit: 10 }),
    });
    await res.body?.cancel();
    if (res.status === 200 && res.headers.get("x-ratelimit-degraded") === null) {
      return performance.now() - started;
    }
    await sleep(10);
  }
  return NaN;
}

async function runMode(
  mode: string,
  redis: TestRedis,
): Promise<{ rows: Row[]; recoveryMs: number }> {
  const node = await startNode({
    env: {
      RATELIMITER_REDIS_URL: redis.url,
      RATELIMITER_FAILURE_MODE: mode,
      RATELIMITER_STORE_TIMEOUT_MS: TIMEOUT_MS,
      RATELIMITER_LOG_LEVEL: "error",
      // The load uses limit 1,000,000 (never denied), above the default sliding-log policy.
      RATELIMITER_MAX_LIMIT: "1000000",
    },
  });
  const rows: Row[] = [];
  try {
    rows.push(summarise(mode, "healthy", await measure(node, "healthy", () => {})));
    rows.push(summarise(mode, "killed", await measure(node, "killed", () => redis.kill())));
    const restarted = performance.now();
    await redis.restart();
    const recoveryMs = performance.now() - restarted + await waitExact(node);
    rows.push(
      summarise(
        mode,
        "CLIENT PAUSE",
        await measure(node, "paused", async () => {
          await command(redis.port, "CLIENT", "PAUSE", String(SECONDS * 1000 + 500), "ALL");
        }),
      ),
    );
    await sleep(700);
    await waitExact(node);
    rows.push(
      summarise(mode, "frozen (SIGSTOP)", await measure(node, "frozen", () => redis.freeze())),
    );
    redis.thaw();
    await waitExact(node);
    return { rows, recoveryMs };
  } finally {
    redis.thaw();
    await node.stop("SIGKILL");
  }
}

const redis = await startRedis();
const rows: Row[] = [];
const recovery: string[] = [];
try {
  for (const mode of ["open", "closed", "local"]) {
    const result = await runMode(mode, redis);
    rows.push(...result.rows);
    recovery.push(`${mode}: ${Math.round(result.recoveryMs)} ms`);
  }
} finally {
  await redis.stop();
}

const f = (n: number) => n.toFixed(1);
console.log(
  `store timeout ${TIMEOUT_MS} ms, ${CLIENTS} clients, ${SECONDS} s per phase, one node\n`,
);
console.log("| mode | Redis | requests | answers | p50 ms | p99 ms | max ms |");
console.log("| ---- | ----- | -------: | ------- | -----: | -----: | -----: |");
for (const r of rows) {
  console.log(
    `| ${r.mode} | ${r.phase} | ${r.requests} | ${r.statuses} | ${f(r.p50)} | ${f(r.p99)} | ${
      f(r.max)
    } |`,
  );
}
console.log(`\nRestart (empty) to the first exact answer: ${recovery.join(", ")}`);
