/**
 * Starts private `redis-server` processes on free loopback ports for tests, and stops them by PID.
 * Never touches a Redis the test did not start.
 *
 * @module
 */
import { freePort, pingRedis, redisServerArgs } from "../../tools/local_redis.ts";
import { stopChild } from "./child_process.ts";
import { RedisCli } from "./redis_cli.ts";
import { waitFor } from "./wait.ts";

/** A free TCP port on 127.0.0.1 (re-exported for tests). */
export { freePort };

/** A `redis-server` started by a test. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /**
   * Sends a command over this server's one test connection and returns what redis-cli would
   * print (trimmed): see {@linkcode RedisCli.cli}.
   */
  cli(...args: string[]): Promise<string>;
  /** Stops the server (SIGTERM, then SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
  /** Kills the server with SIGKILL and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  freeze(): void;
  /** Resumes a frozen server (SIGCONT); it then answers everything it received. */
  thaw(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

function spawn(port: number): Deno.ChildProcess {
  return new Deno.Command("redis-server", {
    args: [
      ...redisServerArgs(port),
      "--daemonize",
      "no",
      // Fault tests stall the server with DEBUG SLEEP; only local clients may use it.
      "--enable-debug-command",
      "local",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function waitUp(port: number, child: Deno.ChildProcess): Promise<void> {
  try {
    await waitFor(`redis-server on port ${port} to answer PING`, () => pingRedis(port), 10_000, 20);
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    throw error;
  }
}

/** Starts a fresh, empty `redis-server` on loopback, on `port` or a free port. */
export async function startRedis(port: number = freePort()): Promise<TestRedis> {
  let child = spawn(port);
  await waitUp(port, child);
  const cli = new RedisCli(port);
  const stopServer = async (signal: Deno.Signal) => {
    cli.close();
    if (signal !== "SIGKILL") {
      // A frozen server would hold SIGTERM until resumed.
      try {
        child.kill("SIGCONT");
      } catch { /* already exited */ }
    }
    await stopChild(child, signal, 5000);
  };
  const server: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child.pid;
    },
    cli: (...args: string[]) => cli.cli(...args),
    stop: () => stopServer("SIGTERM"),
    kill: () => stopServer("SIGKILL"),
    async restart() {
      cli.close();
      child = spawn(port);
      await waitUp(port, child);
    },
    freeze() {
      child.kill("SIGSTOP");
    },
    thaw() {
      child.kill("SIGCONT");
    },
    [Symbol.asyncDispose]: () => stopServer("SIGTERM"),
  };
  return server;
}
