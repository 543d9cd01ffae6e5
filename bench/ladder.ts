/**
 * What each part of the contract costs per `POST /check`, as a ladder of bare `Deno.serve`
 * handlers, each doing one thing more than the one before, measured in interleaved rounds under the
 * same `wrk` load (one key; every answer a 429), with the server's CPU time per request (medians):
 *
 * - `parse`: `JSON.parse(await req.text())`, a fixed JSON answer (the `floor_parse.ts` ceiling);
 * - `headers`: and reads `Content-Type` and `Content-Length`, as the service does;
 * - `decode`: and reads the body with `arrayBuffer()` and a fatal UTF-8 decode instead of `text()`;
 * - `body`: `readJsonRequest` instead (the same, plus the content-type check and the body
 *   deadline);
 * - `validate`: and `fastCheckBody` + `resolveCheck` (defaults, overrides, limits policy);
 * - `answer`: and a store answering at once, then the full answer with its rate-limit headers;
 * - `app`: the service's app (`createApp`, fast path and metrics) over that instant store.
 *
 *   deno run -A bench/ladder.ts --rounds 3 --seconds 2
 *   deno run -A bench/ladder.ts --serve answer --port 9400     # one rung, for a profile
 *
 * @module
 */
import { parseArgs } from "node:util";
import { readJsonRequest } from "../src/http/body.ts";
import { checkBodySchema, fastCheckBody, resolveCheck } from "../src/http/check_input.ts";
import { parseWith } from "../src/http/validate.ts";
import { checkResponse, toAnswer } from "../src/http/routes/check.ts";
import { createApp } from "../src/http/app.ts";
import { parseConfig } from "../src/config.ts";
import { noOverrides } from "../src/limiter/resolve.ts";
import { silentLogger } from "../src/log.ts";
import { createMetrics } from "../src/metrics/metrics.ts";
import type { CheckOutcome, LimitRequest } from "../src/limiter/types.ts";
import type { Store } from "../src/store/types.ts";
import { freePort } from "../tools/local_redis.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    serve: { type: "string" },
    port: { type: "string" },
    rounds: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string" },
  },
});

const config = parseConfig({ RATELIMITER_MAX_LIMIT: "1000000" }, { hostname: "ladder" });
const defaults = { limit: 100, windowMs: 60_000, algorithm: "sliding_log" as const };
const decision = {
  allowed: false,
  count: 10,
  remaining: 0,
  retryAfterMs: 41_234,
  resetAfterMs: 41_234,
};
const outcome: CheckOutcome = { allowed: false, decisions: [decision], deniedIndex: 0 };
/** A store that answers every check at once (denied), so only the HTTP side is measured. */
const instant = {
  kind: "redis",
  check: (_r: LimitRequest[]) => Promise.resolve(outcome),
  checkMany: (g: LimitRequest[][]) => Promise.resolve(g.map(() => outcome)),
  reset: () => Promise.resolve(false),
  listCounters: () => Promise.resolve({ counters: [], nextCursor: undefined }),
  countCounters: () => Promise.resolve(0),
  ping: () => Promise.resolve(),
  status: () => "up" as const,
  close: () => Promise.resolve(),
} satisfies Store;
const json = { "content-type": "application/json" };
const FIXED = '{"allowed":false,"remaining":0}';
const limits = { maxBytes: 64 * 1024, timeoutMs: 10_000 };
const fatal = new TextDecoder("utf-8", { fatal: true });
const fixed = () => new Response(FIXED, { status: 429, headers: json });

async function validated(req: Request): Promise<LimitRequest[]> {
  const raw = await readJsonRequest(req, limits);
  const body = fastCheckBody(raw) ?? parseWith(checkBodySchema, raw);
  return resolveCheck(body, defaults, noOverrides, config.limitsPolicy, []);
}

/** The rungs, cheapest first. */
const RUNGS: Record<string, () => (req: Request) => Response | Promise<Response>> = {
  parse: () => async (req) => {
    JSON.parse(await req.text());
    return fixed();
  },
  headers: () => async (req) => {
    req.headers.get("content-type");
    req.headers.get("content-length");
    JSON.parse(await req.text());
    return fixed();
  },
  decode: () => async (req) => {
    req.headers.get("content-type");
    req.headers.get("content-length");
    JSON.parse(fatal.decode(new Uint8Array(await req.arrayBuffer())));
    return fixed();
  },
  body: () => async (req) => {
    await readJsonRequest(req, limits);
    return fixed();
  },
  validate: () => async (req) => {
    await validated(req);
    return fixed();
  },
  answer: () => async (req) => {
    const requests = await validated(req);
    const { decisions } = await instant.check(requests);
    return checkResponse(toAnswer(requests[0]!, decisions[0]!), undefined);
  },
  app: () => {
    const metrics = createMetrics({ nodeId: "ladder", defaultMetrics: false });
    const app = createApp({
      config,
      store: instant,
      metrics,
      logger: silentLogger,
      overrides: noOverrides,
    });
    return (req) => app.fetch(req);
  },
};

if (values.serve !== undefined) {
  const handler = RUNGS[values.serve]?.();
  if (handler === undefined) throw new Error(`unknown rung ${values.serve}`);
  Deno.serve({ hostname: "127.0.0.1", port: Number(values.port ?? 9400), onListen() {} }, handler);
} else {
  const rounds = Number(values.rounds ?? 3);
  const seconds = Number(values.seconds ?? 2);
  const connections = Number(values.connections ?? 50);
  const script = new URL("./wrk_check.lua", import.meta.url).pathname;
  const servers = Object.keys(RUNGS).map((rung) => {
    const port = freePort();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "--serve",
        rung,
        "--port",
        String(port),
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    return { rung, port, child, runs: [] as { rps: number; cpuUs: number }[] };
  });
  const ticks = async (pid: number) => {
    const out = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stdout: "piped" })
      .output();
    const line = new TextDecoder().decode(out.stdout);
    const f = line.slice(line.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  };
  const wrk = async (port: number, s: number) => {
    const out = await new Deno.Command("wrk", {
      args: [
        "-t1",
        `-c${connections}`,
        `-d${s}s`,
        "-s",
        script,
        `http://127.0.0.1:${port}`,
        "--",
        "1",
        "10",
        "60000",
        "ladder",
      ],
      stdout: "piped",
    }).output();
    const line = new TextDecoder().decode(out.stdout).split("\n").find((l) =>
      l.startsWith("WRK_JSON ")
    );
    return JSON.parse(line!.slice(9)).requests as number;
  };
  try {
    for (const s of servers) {
      for (let i = 0;; i++) {
        try {
          await (await fetch(`http://127.0.0.1:${s.port}/`, {
            method: "POST",
            body: "{}",
            headers: json,
          })).body?.cancel();
          break;
        } catch {
          if (i > 300) throw new Error(`rung ${s.rung} did not start`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      await wrk(s.port, 1); // warm-up
    }
    for (let round = 0; round < rounds; round++) {
      for (const s of servers) {
        const before = await ticks(s.child.pid);
        const requests = await wrk(s.port, seconds);
        const after = await ticks(s.child.pid);
        s.runs.push({ rps: requests / seconds, cpuUs: ((after - before) * 1e4) / requests });
      }
    }
    const median = (v: number[]) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
    console.log(`| rung | checks/s | CPU µs/request | each round (CPU µs) |`);
    console.log(`| --- | ---: | ---: | --- |`);
    for (const s of servers) {
      const cpu = s.runs.map((r) => r.cpuUs);
      console.log(
        `| ${s.rung} | ${median(s.runs.map((r) => r.rps)).toFixed(0)} | ${
          median([...cpu]).toFixed(1)
        } | ${cpu.map((c) => c.toFixed(0)).join(", ")} |`,
      );
    }
  } finally {
    for (const s of servers) {
      try {
        s.child.kill("SIGTERM");
      } catch { /* gone */ }
      await s.child.status;
    }
  }
}
