/**
 * Starts private Redis servers on free loopback ports for tests, and stops them by PID or container
 * name. Never touches a Redis the test did not start.
 *
 * The server is `redis-server` from `PATH` when there is one; otherwise a `redis:7` container
 * (`docker run`, published on 127.0.0.1 only) when a Docker engine answers `docker info`;
 * otherwise the test fails with {@linkcode REDIS_MISSING_MESSAGE}.
 *
 * @module
 */
import { freePort, pingRedis, redisServerArgs } from "../../tools/local_redis.ts";
import { stopChild } from "./child_process.ts";
import { RedisCli } from "./redis_cli.ts";
import { waitFor } from "./wait.ts";

/** A free TCP port on 127.0.0.1 (re-exported for tests). */
export { freePort };

/** A Redis server started by a test. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** The local `redis-server`'s PID; `undefined` for a Docker container. */
  readonly pid: number | undefined;
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

/** Why a test that needs Redis cannot run, and how to fix it. */
export const REDIS_MISSING_MESSAGE =
  "Cannot start Redis for this test: no redis-server on PATH and no Docker engine answers " +
  "`docker info`; install the Debian package redis-server (apt-get install -y redis-server)";

/** The image used when `redis-server` is not on PATH. */
export const REDIS_IMAGE = "redis:7";

/** One running server, whichever way it was started. */
interface RedisProcess {
  readonly pid: number | undefined;
  signal(signal: "SIGSTOP" | "SIGCONT"): void;
  stop(signal: "SIGTERM" | "SIGKILL"): Promise<void>;
}

type Backend = "local" | "docker";
let backend: Promise<Backend> | undefined;

async function answers(command: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Decides once per test process where Redis comes from. */
function chooseBackend(): Promise<Backend> {
  backend ??= (async () => {
    if (await answers("redis-server", ["--version"])) return "local";
    if (await answers("docker", ["info"])) return "docker";
    throw new Error(REDIS_MISSING_MESSAGE);
  })().catch((error) => {
    backend = undefined;
    throw error;
  });
  return backend;
}

function spawnLocal(port: number): RedisProcess {
  const child = new Deno.Command("redis-server", {
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
  return {
    pid: child.pid,
    signal: (signal) => child.kill(signal),
    async stop(signal) {
      if (signal !== "SIGKILL") {
        // A frozen server would hold SIGTERM until resumed.
        try {
          child.kill("SIGCONT");
        } catch { /* already exited */ }
      }
      await stopChild(child, signal, 5000);
    },
  };
}

async function docker(args: string[]): Promise<void> {
  const out = await new Deno.Command("docker", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`docker ${args[0]} failed (exit ${out.code}): ${stderr}`);
  }
}

function dockerSync(args: string[]): void {
  new Deno.Command("docker", { args, stdout: "null", stderr: "null" }).outputSync();
}

async function spawnDocker(port: number): Promise<RedisProcess> {
  const name = `ratelimiter-test-redis-${port}-${crypto.randomUUID().slice(0, 8)}`;
  await docker([
    "run",
    "--detach",
    "--name",
    name,
    "--publish",
    `127.0.0.1:${port}:6379`,
    REDIS_IMAGE,
    "redis-server",
    "--save",
    "",
    "--appendonly",
    "no",
    // Published on loopback only; clients arrive from the bridge network, not "local".
    "--enable-debug-command",
    "yes",
  ]);
  return {
    pid: undefined,
    signal: (signal) => dockerSync([signal === "SIGSTOP" ? "pause" : "unpause", name]),
    async stop(signal) {
      if (signal === "SIGTERM") {
        dockerSync(["unpause", name]);
        await docker(["stop", "--time", "5", name]).catch(() => {});
      }
      await docker(["rm", "--force", name]);
    },
  };
}

async function spawn(port: number): Promise<RedisProcess> {
  return await chooseBackend() === "local" ? spawnLocal(port) : await spawnDocker(port);
}

async function waitUp(port: number, server: RedisProcess): Promise<void> {
  try {
    await waitFor(`Redis on port ${port} to answer PING`, () => pingRedis(port), 30_000, 20);
  } catch (error) {
    await server.stop("SIGKILL").catch(() => {});
    throw error;
  }
}

/**
 * Starts a fresh, empty Redis on loopback, on `port` or a free port: `redis-server` from PATH,
 * else a Docker container, else throws an Error with {@linkcode REDIS_MISSING_MESSAGE}.
 */
export async function startRedis(port: number = freePort()): Promise<TestRedis> {
  let server = await spawn(port);
  await waitUp(port, server);
  const cli = new RedisCli(port);
  const stopServer = async (signal: "SIGTERM" | "SIGKILL") => {
    cli.close();
    await server.stop(signal);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return server.pid;
    },
    cli: (...args: string[]) => cli.cli(...args),
    stop: () => stopServer("SIGTERM"),
    kill: () => stopServer("SIGKILL"),
    async restart() {
      cli.close();
      server = await spawn(port);
      await waitUp(port, server);
    },
    freeze() {
      server.signal("SIGSTOP");
    },
    thaw() {
      server.signal("SIGCONT");
    },
    [Symbol.asyncDispose]: () => stopServer("SIGTERM"),
  };
}
