/**
 * Latency of 1,000-item `POST /check/batch` requests on Redis while single checks run alongside,
 * and whether any answer degraded. Starts its own redis-server and one `main.ts` node on loopback
 * ports and stops them by PID. Prints a Markdown table.
 *
 *     deno run -A bench/batch_latency.ts [--seconds=10] [--clients=8] [--batch-clients=2]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runLoad } from "../tests/_helpers/load.ts";
import { startNode } from "../tests/_helpers/node_process.ts";
import { startRedis } from "../tests/_helpers/redis_server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "10" },
    clients: { type: "string", default: "8" },
    "batch-clients": { type: "string", default: "2" },
  },
});
const SECONDS = Number(values.seconds);
const CLIENTS = Number(values.clients);
const BATCH_CLIENTS = Number(values["batch-clients"]);
const BATCH = 1000;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

await using redis = await startRedis();
await using node = await startNode({ env: { RATELIMITER_REDIS_URL: redis.url } });

const stop = AbortSignal.timeout(SECONDS * 1000);
const singles = runLoad({
  urls: [node.url],
  clients: CLIENTS,
  body: (c, n) => ({ key: `single-${c}-${n % 100}`, limit: 1000, window_ms: 60_000 }),
  signal: stop,
});
const batchMs: number[] = [];
let batchDegraded = 0;
let batchErrors = 0;
let victimAllowed = 0;
const batchClient = async (c: number) => {
  for (let n = 0; !stop.aborted; n++) {
    // Half the items hit one key limited to 1 per hour, the rest spread over 500 keys.
    const checks = Array.from(
      { length: BATCH },
      (_, i) =>
        i % 2 === 0
          ? { key: "victim", algorithm: "sliding_log", limit: 1, window_ms: 3_600_000 }
          : { key: `batch-${c}-${i % 500}`, limit: 100_000, window_ms: 60_000 },
    );
    const started = performance.now();
    try {
      const res = await fetch(`${node.url}/check/batch`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ checks }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = await res.json() as { results?: { allowed: boolean; degraded?: true }[] };
      batchMs.push(performance.now() - started);
      if (res.status !== 200 || body.results === undefined) batchErrors++;
      for (const [i, r] of (body.results ?? []).entries()) {
        if (r.degraded) batchDegraded++;
        if (i % 2 === 0 && r.allowed) victimAllowed++;
      }
    } catch {
      batchErrors++;
    }
  }
};
await Promise.all([
  singles,
  ...Array.from({ length: BATCH_CLIENTS }, (_, c) => batchClient(c)),
]);
const single = await singles;
const singleMs = single.map((r) => r.endedAt - r.startedAt).sort((a, b) => a - b);
batchMs.sort((a, b) => a - b);
const f = (ms: number) => ms.toFixed(1);
console.log(
  `| requests | count | p50 ms | p99 ms | max ms | degraded answers | errors |\n` +
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n` +
    `| 1,000-item batch (${BATCH_CLIENTS} clients) | ${batchMs.length} | ${
      f(quantile(batchMs, 0.5))
    } | ${f(quantile(batchMs, 0.99))} | ${
      f(batchMs.at(-1) ?? NaN)
    } | ${batchDegraded} | ${batchErrors} |\n` +
    `| single /check (${CLIENTS} clients) | ${single.length} | ${f(quantile(singleMs, 0.5))} | ${
      f(quantile(singleMs, 0.99))
    } | ${f(singleMs.at(-1) ?? NaN)} | ${single.filter((r) => r.degraded !== null).length} | ${
      single.filter((r) => r.status === 0).length
    } |`,
);
console.log(`\nvictim (1 per hour) allowed across all batches: ${victimAllowed}`);
