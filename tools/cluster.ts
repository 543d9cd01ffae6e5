/**
 * `deno task cluster`: a local cluster without Docker in one terminal. Starts `redis-server` (when
 * on PATH and no Redis URL is given) and three nodes on ports 8001–8003, prefixes every log line
 * with its process (`[node-1] {...}`), and on Ctrl-C or SIGTERM stops the nodes (they drain
 * in-flight requests), then Redis, waiting for each. It stops only the processes it started.
 *
 *   deno task cluster
 *   deno task cluster --nodes 5 --base-port 9001
 *   deno task cluster --redis-url redis://127.0.0.1:6380      # use a running Redis
 *   RATELIMITER_DEFAULT_LIMIT=10 deno task cluster             # RATELIMITER_* pass through
 *
 * @module
 */
import { parseArgs } from "node:util";
import { nodePermissionFlags } from "./node_permissions.ts";
import { freePort, pingRedis, redisServerArgs } from "./local_redis.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const encoder = new TextEncoder();
const COLORS = [36, 32, 35, 33, 34, 31];

/** Options of the local cluster. */
export interface ClusterOptions {
  /** Ports of the nodes, one node each. */
  ports: number[];
  /** Redis to use; `undefined` starts a redis-server. */
  redisUrl: string | undefined;
  /** Port for the redis-server it starts; busy → a free one. @default {6379} */
  redisPort: number;
  /** Interface the nodes listen on. @default {"127.0.0.1"} */
  listenHost: string;
}

const USAGE = `Usage: deno task cluster [options]
  --nodes N          number of nodes                                   [3]
  --base-port P      first node's port; the others follow          [8001]
  --ports A,B,...    explicit node ports (instead of the two above)
  --redis-url URL    use this Redis instead of starting redis-server
  --redis-port P     port of the redis-server it starts (busy: a free one) [6379]
  --listen-host H    interface the nodes bind to                [127.0.0.1]
RATELIMITER_* variables in the environment are passed to every node.`;

function int(value: string | undefined, flag: string, fallback: number, max = 65535): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > max) {
    throw new RangeError(
      `Cannot parse --${flag}: expected an integer from 1 to ${max}, received "${value}"`,
    );
  }
  return n;
}

/** Parses the cluster's command line (`--help` returns `undefined`). */
export function parseClusterArgs(
  argv: string[],
  env: Record<string, string | undefined> = {},
): ClusterOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      nodes: { type: "string" },
      "base-port": { type: "string" },
      ports: { type: "string" },
      "redis-url": { type: "string" },
      "redis-port": { type: "string" },
      "listen-host": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return undefined;
  let ports: number[];
  if (values.ports !== undefined) {
    ports = values.ports.split(",").map((p) => int(p.trim(), "ports", 0));
  } else {
    const nodes = int(values.nodes, "nodes", 3, 64);
    const base = int(values["base-port"], "base-port", 8001);
    ports = Array.from({ length: nodes }, (_, i) => base + i);
  }
  if (ports.some((p) => p > 65535) || new Set(ports).size !== ports.length) {
    throw new RangeError(
      `Cannot use ports ${ports.join(",")}: expected distinct ports up to 65535`,
    );
  }
  const redisUrl = values["redis-url"] ?? env.RATELIMITER_REDIS_URL;
  return {
    ports,
    redisUrl: redisUrl === "" ? undefined : redisUrl,
    redisPort: int(values["redis-port"], "redis-port", 6379),
    listenHost: values["listen-host"] ?? "127.0.0.1",
  };
}

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

interface Child {
  readonly name: string;
  readonly process: Deno.ChildProcess;
  /** Resolves when the process has exited and its output is flushed. */
  readonly done: Promise<Deno.CommandStatus>;
  exited: boolean;
}

/** Runs the cluster until a signal or a child's death; returns the exit code. */
export async function runCluster(
  options: ClusterOptions,
  env: Record<string, string>,
): Promise<number> {
  const color = Deno.stdout.isTerminal();
  let seq = 0;
  const say = (name: string, line: string, c: number) =>
    Deno.stdout.writeSync(
      encoder.encode(`${color ? `\x1b[${c}m[${name}]\x1b[0m` : `[${name}]`} ${line}\n`),
    );
  const log = (line: string) => say("cluster", line, 1);

  const children: Child[] = [];
  const spawn = (
    name: string,
    command: string,
    args: string[],
    childEnv: Record<string, string>,
  ) => {
    const c = COLORS[seq++ % COLORS.length]!;
    const process = new Deno.Command(command, {
      args,
      env: childEnv,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      let buffer = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          say(name, buffer.slice(0, nl), c);
          buffer = buffer.slice(nl + 1);
        }
      }
      if (buffer !== "") say(name, buffer, c);
    };
    const pumps = Promise.all([pump(process.stdout), pump(process.stderr)]);
    const child: Child = {
      name,
      process,
      exited: false,
      done: process.status.then(async (status) => {
        child.exited = true;
        await pumps;
        return status;
      }),
    };
    children.push(child);
    log(`started ${name} pid ${process.pid}`);
    return child;
  };

  const stopChild = async (child: Child, graceMs: number) => {
    if (!child.exited) {
      try {
        child.process.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    const timer = setTimeout(() => {
      try {
        child.process.kill("SIGKILL");
      } catch { /* already gone */ }
    }, graceMs);
    const status = await child.done;
    clearTimeout(timer);
    log(`${child.name} stopped (${status.signal ?? `exit ${status.code}`})`);
  };

  let redisUrl = options.redisUrl;
  let redis: Child | undefined;
  if (redisUrl === undefined) {
    const port = portFree(options.redisPort) ? options.redisPort : freePort();
    try {
      redis = spawn("redis", "redis-server", redisServerArgs(port), {});
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      log(
        "redis-server is not on PATH: install it (apt-get install redis-server) or pass --redis-url",
      );
      return 1;
    }
    redisUrl = `redis://127.0.0.1:${port}`;
    if (!await waitFor(() => pingRedis(port), 10_000)) {
      log(`redis-server did not answer on port ${port}`);
      await stopChild(redis, 5000);
      return 1;
    }
  }

  const passThrough: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith("RATELIMITER_")) passThrough[name] = value;
  }
  const nodes = options.ports.map((port, i) =>
    spawn(`node-${i + 1}`, Deno.execPath(), ["run", ...nodePermissionFlags(), MAIN], {
      ...passThrough,
      RATELIMITER_REDIS_URL: redisUrl!,
      RATELIMITER_NODE_ID: `node-${i + 1}`,
      RATELIMITER_NODE_PORT: String(port),
      // Envoy's gRPC protocol 1000 ports above the HTTP port (9001–9003 for 8001–8003), unless
      // RATELIMITER_GRPC_PORT=0 turns it off.
      RATELIMITER_GRPC_PORT: passThrough.RATELIMITER_GRPC_PORT === "0" ? "0" : String(port + 1000),
      RATELIMITER_NODE_HOST: options.listenHost === "0.0.0.0" ? "127.0.0.1" : options.listenHost,
      RATELIMITER_LISTEN_HOST: options.listenHost,
    })
  );

  let resolveStop!: (reason: string) => void;
  const stopRequested = new Promise<string>((resolve) => resolveStop = resolve);
  const onSignal = (signal: Deno.Signal) => () => resolveStop(signal);
  const listeners = (["SIGINT", "SIGTERM"] as const).map((s) => [s, onSignal(s)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  for (const child of children) {
    child.done.then((status) =>
      resolveStop(`${child.name} exited (${status.signal ?? `exit ${status.code}`})`)
    );
  }

  const host = options.listenHost === "0.0.0.0" ? "127.0.0.1" : options.listenHost;
  const urls = options.ports.map((p) => `http://${host}:${p}`);
  Promise.all(urls.map((url) => waitFor(() => healthy(url), 30_000))).then((ok) => {
    if (ok.every(Boolean)) log(`ready: ${urls.join(" ")} on ${redisUrl} (Ctrl-C stops all)`);
  });

  const reason = await stopRequested;
  const clean = reason === "SIGINT" || reason === "SIGTERM";
  log(`stopping (${reason})`);
  // Nodes first (they drain in-flight requests), then the Redis they use.
  await Promise.all(nodes.map((n) => stopChild(n, 15_000)));
  if (redis !== undefined) await stopChild(redis, 5000);
  for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  return clean ? 0 : 1;
}

async function waitFor(probe: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  let options: ClusterOptions | undefined;
  try {
    options = parseClusterArgs(Deno.args, Deno.env.toObject());
  } catch (error) {
    Deno.stderr.writeSync(
      encoder.encode(`cluster: ${error instanceof Error ? error.message : error}\n`),
    );
    Deno.exit(2);
  }
  if (options === undefined) {
    Deno.stdout.writeSync(encoder.encode(USAGE + "\n"));
    Deno.exit(0);
  }
  Deno.exit(await runCluster(options, Deno.env.toObject()));
}
