/**
 * Envoy's protocol over gRPC beside HTTP `POST /check`, in the same run: decisions per second and
 * the server's CPU time per decision (user + system, from `/proc/<pid>/stat`), on the embedded
 * store, one hot key that is never denied (fixed window, limit 10^9 per hour) so both paths do the
 * same store work. Subjects, measured in turn, twice (A/B/C/D/E, twice):
 *
 * - `http /check`: a node (`main.ts`), wrk, 32 connections (`bench/wrk_check.lua`);
 * - `grpc node, own HTTP/2`: the same node's gRPC server (`src/envoy/h2_server.ts`), h2load, 4
 *   connections × 8 concurrent streams (32 in flight), one framed `RateLimitRequest`;
 * - `grpc node:http2`: the same service behind the `node:http2` server (`grpc_server.ts`,
 *   `bench/grpc_js_server.ts node`), same h2load load;
 * - `grpc @grpc/grpc-js`: the same service and codec behind `@grpc/grpc-js`
 *   (`bench/grpc_js_server.ts`), same h2load load;
 * - `node:http2 floor`: an empty `node:http2` handler answering a fixed message with trailers
 *   (`bench/http2_floor.ts`), same h2load load: what Deno's HTTP/2 layer alone costs.
 *
 * Every subject but the floor decides one descriptor per call. Before measuring, one real gRPC call checks the
 * answer is OK with the expected limit (h2load counts HTTP 200s, not gRPC statuses).
 *
 *   deno run -A bench/grpc_vs_http.ts [--seconds 8]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { nodePermissionFlags } from "../tools/node_permissions.ts";
import { freePort } from "../tools/local_redis.ts";
import { WireWriter } from "../src/envoy/wire.ts";
import { connectRls } from "../tests/envoy/_grpc_client.ts";

const ROOT = new URL("../", import.meta.url);
const path = (p: string) => new URL(p, ROOT).pathname;
const decoder = new TextDecoder();
const { values } = parseArgs({ args: Deno.args, options: { seconds: { type: "string" } } });
const SECONDS = Number(values.seconds ?? 8);
const LIMIT = 1_000_000_000;

const RULES = `domain: bench
descriptors:
  - key: user
    rate_limit: { unit: hour, requests_per_unit: ${LIMIT} }
`;

/** A framed ShouldRateLimit request: domain bench, descriptor user=hot. */
function grpcBody(): Uint8Array {
  const entry = new WireWriter().string(1, "user").string(2, "hot");
  const message = new WireWriter().string(1, "bench").message(
    2,
    new WireWriter().message(1, entry),
  ).finish();
  const frame = new Uint8Array(5 + message.length);
  new DataView(frame.buffer).setUint32(1, message.length);
  frame.set(message, 5);
  return frame;
}

interface Child {
  child: Deno.ChildProcess;
  pid: number;
  /** The last lines it wrote, to show when something fails. */
  output: string[];
}

function spawn(command: string, args: string[], env: Record<string, string> = {}): Child {
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
      if (output.length > 50) output.shift();
    }
  };
  pump(child.stdout);
  pump(child.stderr);
  return { child, pid: child.pid, output };
}

async function stop(c: Child): Promise<void> {
  try {
    c.child.kill("SIGTERM");
  } catch { /* exited */ }
  await c.child.status;
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

/** User + system CPU ticks (1/100 s) of `pid`. */
async function cpuTicks(pid: number): Promise<number> {
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stdout: "piped" })
    .output();
  const line = decoder.decode(out.stdout);
  const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

async function run(command: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  return decoder.decode(out.stdout) + decoder.decode(out.stderr);
}

interface Result {
  subject: string;
  rps: number;
  cpuUs: number;
  errors: number;
}

async function measure(
  subject: string,
  pid: number,
  load: () => Promise<{ rps: number; errors: number }>,
): Promise<Result> {
  const before = await cpuTicks(pid);
  const { rps, errors } = await load();
  const after = await cpuTicks(pid);
  return { subject, rps, cpuUs: ((after - before) * 10_000) / (rps * SECONDS), errors };
}

async function h2load(port: number, bodyFile: string, seconds: number) {
  const out = await run("h2load", [
    "-c4",
    "-m8",
    `-D${seconds}`,
    "-d",
    bodyFile,
    "-H",
    "content-type: application/grpc",
    "-H",
    "te: trailers",
    `http://127.0.0.1:${port}/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`,
  ]);
  const rps = Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0);
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? 0);
  const errors = failed + Number(status?.[3] ?? 0) + Number(status?.[4] ?? 0);
  if (rps === 0) throw new Error(`h2load printed no rate:\n${out}`);
  return { rps, errors };
}

let wrkRuns = 0;

async function wrk(port: number, seconds: number) {
  const out = await run("wrk", [
    "-t1",
    "-c32",
    `-d${seconds}s`,
    "-s",
    path("bench/wrk_check.lua"),
    `http://127.0.0.1:${port}`,
    "--",
    "1",
    // The largest limit /check takes; a key of its own per run, so it is never exhausted.
    "1000000",
    "3600000",
    `hot-${wrkRuns++}`,
  ]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  if (rps === 0) throw new Error(`wrk printed no rate:\n${out}`);
  return { rps, errors };
}

const dir = await Deno.makeTempDir();
const rulesFile = join(dir, "rules.yaml");
await Deno.writeTextFile(rulesFile, RULES);
const bodyFile = join(dir, "request.bin");
await Deno.writeFile(bodyFile, grpcBody());

const httpPort = freePort();
const grpcPort = freePort();
const grpcJsPort = freePort();
const floorPort = freePort();
const nodeHttp2Port = freePort();
const node = spawn(Deno.execPath(), ["run", ...nodePermissionFlags(), path("main.ts")], {
  RATELIMITER_NODE_PORT: String(httpPort),
  RATELIMITER_GRPC_PORT: String(grpcPort),
  RATELIMITER_LISTEN_HOST: "127.0.0.1",
  RATELIMITER_LOG_LEVEL: "warn",
  RATELIMITER_RULES_FILE: rulesFile,
  RATELIMITER_DEFAULT_ALGORITHM: "fixed_window",
  RATELIMITER_MAX_LIMIT: String(1_000_000),
});
const grpcJs = spawn(Deno.execPath(), [
  "run",
  "-A",
  path("bench/grpc_js_server.ts"),
  String(grpcJsPort),
  rulesFile,
]);
const nodeHttp2 = spawn(Deno.execPath(), [
  "run",
  "-A",
  path("bench/grpc_js_server.ts"),
  String(nodeHttp2Port),
  rulesFile,
  "node",
]);
const floor = spawn(Deno.execPath(), [
  "run",
  "--allow-net",
  path("bench/http2_floor.ts"),
  String(floorPort),
]);
const results: Result[] = [];
try {
  await Promise.all([
    waitPort(httpPort),
    waitPort(grpcPort),
    waitPort(grpcJsPort),
    waitPort(floorPort),
    waitPort(nodeHttp2Port),
  ]);
  for (const port of [grpcPort, grpcJsPort, nodeHttp2Port]) {
    const client = connectRls(port);
    const answer = await client.shouldRateLimit({
      domain: "bench",
      descriptors: [{ entries: [{ key: "user", value: "hot" }] }],
    });
    client.close();
    if (
      answer.overall_code !== "OK" || answer.statuses[0]?.current_limit?.requests_per_unit !== LIMIT
    ) {
      throw new Error(`unexpected answer on ${port}: ${JSON.stringify(answer)}`);
    }
  }
  // Warm-up: 2 s each.
  await wrk(httpPort, 2);
  await h2load(grpcPort, bodyFile, 2);
  await h2load(grpcJsPort, bodyFile, 2);
  await h2load(floorPort, bodyFile, 2);
  await h2load(nodeHttp2Port, bodyFile, 2);
  for (let round = 0; round < 2; round++) {
    results.push(await measure("http /check (wrk)", node.pid, () => wrk(httpPort, SECONDS)));
    results.push(
      await measure(
        "grpc node, own HTTP/2 (h2load)",
        node.pid,
        () => h2load(grpcPort, bodyFile, SECONDS),
      ),
    );
    results.push(
      await measure(
        "grpc node:http2 (h2load)",
        nodeHttp2.pid,
        () => h2load(nodeHttp2Port, bodyFile, SECONDS),
      ),
    );
    results.push(
      await measure(
        "grpc @grpc/grpc-js (h2load)",
        grpcJs.pid,
        () => h2load(grpcJsPort, bodyFile, SECONDS),
      ),
    );
    results.push(
      await measure(
        "node:http2 floor (h2load)",
        floor.pid,
        () => h2load(floorPort, bodyFile, SECONDS),
      ),
    );
  }
  // h2load counts HTTP 200s; the node counts gRPC statuses: every call must have been OK.
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  for (const line of metrics.split("\n")) {
    if (line.startsWith("ratelimiter_grpc_calls_total{")) console.log(`node: ${line}`);
  }
} catch (error) {
  for (
    const [name, c] of [["node", node], ["grpc-js", grpcJs], ["floor", floor], [
      "node:http2",
      nodeHttp2,
    ]] as const
  ) {
    console.error(`--- ${name} output:\n${c.output.join("")}`);
  }
  throw error;
} finally {
  await Promise.all([stop(node), stop(grpcJs), stop(floor), stop(nodeHttp2)]);
  await Deno.remove(dir, { recursive: true });
}
console.log("| Subject | decisions/s | CPU µs/decision | errors |");
console.log("| --- | ---: | ---: | ---: |");
for (const r of results) {
  console.log(`| ${r.subject} | ${r.rps.toFixed(0)} | ${r.cpuUs.toFixed(0)} | ${r.errors} |`);
}
