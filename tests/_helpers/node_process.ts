/**
 * Runs `main.ts` as a separate process for multi-node tests, and stops it by PID.
 *
 * @module
 */
import { nodePermissionFlags } from "../../tools/node_permissions.ts";
import { readLines, stopChild } from "./child_process.ts";
import { freePort } from "./redis_server.ts";
import { waitFor } from "./wait.ts";

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
      // No gRPC server unless a test asks for one on a port of its own (the default 8081 would be
      // shared by every node of a parallel run).
      RATELIMITER_GRPC_PORT: "0",
      ...options.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs: Record<string, unknown>[] = [];
  const onLine = (line: string) => {
    try {
      logs.push(JSON.parse(line));
    } catch {
      logs.push({ raw: line });
    }
  };
  const pumps = Promise.all([readLines(child.stdout, onLine), readLines(child.stderr, onLine)]);
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
      await stopChild(child, signal, 15_000);
      return (await status).code;
    },
    async [Symbol.asyncDispose]() {
      await node.stop("SIGKILL");
    },
  };
  if (options.waitReady ?? true) {
    let exited = false;
    status.then(() => exited = true);
    try {
      await waitFor(
        `the node on port ${port} to serve /health`,
        async () => {
          if (exited) throw new Error(`The node on port ${port} exited before serving`);
          try {
            const res = await fetch(`${node.url}/health`);
            await res.body?.cancel();
            return res.ok;
          } catch {
            return false; // not up yet
          }
        },
        30_000,
        50,
      );
    } catch (error) {
      await node.stop("SIGKILL");
      throw new Error(`${(error as Error).message}: ${JSON.stringify(logs)}`);
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
