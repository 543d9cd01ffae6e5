/**
 * Runs `main.ts` as a separate process for multi-node tests, and stops it by PID.
 *
 * @module
 */
import { nodePermissionFlags } from "../../tools/node_permissions.ts";
import { freePort } from "./redis_server.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A service node started by a test. */
export interface TestNode {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** JSON log lines the node has written so far. */
  readonly logs: Record<string, unknown>[];
  /** Sends `signal` and waits for the process to exit; returns its exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** The exit status, once it has exited. */
  readonly status: Promise<Deno.CommandStatus>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options for {@linkcode startNode}. */
export interface StartNodeOptions {
  /** Extra `RATELIMITER_*` variables. */
  env?: Record<string, string>;
  /** Port to listen on. @default {a free port} */
  port?: number;
  /** Most open file descriptors of the process (`prlimit --nofile`). @default {inherited} */
  fdLimit?: number;
  /** Whether to wait until `/health` answers. @default {true} */
  waitReady?: boolean;
}

/** Starts one node (`deno run main.ts`) and waits until it serves. */
export async function startNode(options: StartNodeOptions = {}): Promise<TestNode> {
  const port = options.port ?? freePort();
  // The same permissions as `deno task start` and the container, so a test fails if a node
  // needs more than they grant.
  const args = ["run", ...nodePermissionFlags(), MAIN];
  const limit = options.fdLimit;
  // prlimit sets the limit and then execs deno: the child's PID is the node's.
  const child = new Deno.Command(limit === undefined ? Deno.execPath() : "prlimit", {
    args: limit === undefined ? args : [`--nofile=${limit}:${limit}`, Deno.execPath(), ...args],
    env: {
      RATELIMITER_NODE_PORT: String(port),
      RATELIMITER_LISTEN_HOST: "127.0.0.1",
      RATELIMITER_NODE_HOST: "127.0.0.1",
      RATELIMITER_LOG_LEVEL: "info",
      ...options.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs: Record<string, unknown>[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          logs.push(JSON.parse(line));
        } catch {
          logs.push({ raw: line });
        }
      }
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (s) => {
    await pumps;
    return s;
  });
  const node: TestNode = {
    port,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    logs,
    status,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already exited */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
      }, 15_000);
      const s = await status;
      clearTimeout(timer);
      return s.code;
    },
    async [Symbol.asyncDispose]() {
      await node.stop("SIGKILL");
    },
  };
  if (options.waitReady ?? true) {
    const deadline = Date.now() + 30_000;
    let exited = false;
    status.then(() => exited = true);
    while (true) {
      if (exited) {
        throw new Error(`Node on port ${port} exited before serving: ${JSON.stringify(logs)}`);
      }
      try {
        const res = await fetch(`${node.url}/health`);
        await res.body?.cancel();
        if (res.ok) break;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) {
        await node.stop("SIGKILL");
        throw new Error(`Node on port ${port} did not serve within 30 s: ${JSON.stringify(logs)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return node;
}

/** POSTs JSON to `url` and returns the status and parsed body. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? {} : JSON.parse(text), headers: res.headers };
}
