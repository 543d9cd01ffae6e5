/**
 * One `redis-server` process (a data node, a cluster node or a sentinel) started by a multi-server
 * test harness on a chosen loopback port, with its own directory, stopped and killed by PID.
 * {@linkcode startRedisCluster} and {@linkcode startRedisSentinel} are built from it; a test that
 * needs one plain server uses `startRedis` in `redis_server.ts` instead.
 *
 * @module
 */
import { pingRedis } from "../../tools/local_redis.ts";
import { stopChild } from "./child_process.ts";
import { RedisCli } from "./redis_cli.ts";
import { waitFor } from "./wait.ts";

/** How long a server may take to answer PING after it was spawned. */
const START_TIMEOUT_MS = 20_000;

/** A `redis-server` process that can be killed and started again on the same port. */
export interface RedisProcess {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** `127.0.0.1:<port>`, as Redis names nodes. */
  readonly address: string;
  /** The running process's PID; `undefined` while it is down. */
  readonly pid: number | undefined;
  /** Whether the process is running (started and not yet seen to exit). */
  readonly running: boolean;
  /** The directory holding its files (config, cluster state, log). */
  readonly dir: string;
  /** Sends one command over a test connection; the reply as redis-cli prints it (trimmed). */
  cli(...args: string[]): Promise<string>;
  /** Kills it with SIGKILL (`kill -9`) and waits for it to exit. */
  kill(): Promise<void>;
  /** Stops it with SIGTERM (SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same arguments and directory (its files kept). */
  restart(): Promise<void>;
  /** The last `lines` lines of its log file, for failure messages. */
  logTail(lines?: number): Promise<string>;
}

/** Options for {@linkcode spawnRedisProcess}. */
export interface SpawnRedisProcessOptions {
  /** Port to listen on, on 127.0.0.1. */
  port: number;
  /** Directory for its files; must exist. */
  dir: string;
  /** Arguments after the port, bind, dir and log options (e.g. `--cluster-enabled yes`). */
  args?: string[];
  /**
   * `requirepass` (and `masterauth`, so replicas reach their master): the `default` user's
   * password. Commands of {@linkcode RedisProcess.cli} authenticate with it.
   */
  password?: string;
  /**
   * A config file to pass first (sentinels need one they can rewrite); written to `dir` before
   * the first start, never again, so a restart reads what the server rewrote.
   */
  configFile?: { name: string; text: string };
}

/**
 * Spawns `redis-server` on 127.0.0.1:`port` (no persistence unless `args` ask for it, log in
 * `dir`) and waits until it answers PING.
 */
export async function spawnRedisProcess(options: SpawnRedisProcessOptions): Promise<RedisProcess> {
  const { port, dir } = options;
  const logFile = `${dir}/redis-${port}.log`;
  const configPath = options.configFile === undefined
    ? undefined
    : `${dir}/${options.configFile.name}`;
  if (configPath !== undefined) await Deno.writeTextFile(configPath, options.configFile!.text);
  const args = [
    ...(configPath === undefined ? [] : [configPath]),
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--logfile",
    logFile,
    "--loglevel",
    "notice",
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
    ...(options.password === undefined
      ? []
      : ["--requirepass", options.password, "--masterauth", options.password]),
    ...(options.args ?? []),
  ];
  let child: Deno.ChildProcess | undefined;
  let exited = true;
  const cli = new RedisCli(port, options.password);

  const start = async () => {
    const spawned = new Deno.Command("redis-server", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    child = spawned;
    exited = false;
    const stderr = new Response(spawned.stderr).text();
    spawned.status.then(() => {
      if (child === spawned) exited = true;
    });
    try {
      await waitFor(
        `redis-server on port ${port} to answer PING`,
        async () => {
          if (exited) {
            throw new Error(`redis-server on port ${port} exited at start: ${await stderr}`);
          }
          if (options.password === undefined) return await pingRedis(port);
          try {
            return await cli.cli("PING") === "PONG";
          } catch {
            return false; // not listening yet
          }
        },
        START_TIMEOUT_MS,
        20,
      );
    } catch (error) {
      await stopChild(spawned, "SIGKILL", 1000);
      throw error;
    }
  };

  const end = async (signal: "SIGTERM" | "SIGKILL") => {
    cli.close();
    const current = child;
    if (current === undefined || exited) return;
    await stopChild(current, signal, 5000);
    exited = true;
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    get pid() {
      return exited ? undefined : child?.pid;
    },
    get running() {
      return !exited;
    },
    dir,
    cli: (...command: string[]) => cli.cli(...command),
    kill: () => end("SIGKILL"),
    stop: () => end("SIGTERM"),
    async restart() {
      await end("SIGKILL");
      await start();
    },
    async logTail(lines = 30) {
      try {
        return (await Deno.readTextFile(logFile)).trimEnd().split("\n").slice(-lines).join("\n");
      } catch {
        return "(no log)";
      }
    },
  };
}

/**
 * `count` distinct free TCP ports on 127.0.0.1, each held open until all are chosen so no two are
 * equal (free enough for tests: nothing else binds them in between).
 */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

/** The integer or text value of `field` in an INFO-style `field:value` reply; `undefined` if absent. */
export function infoValue(text: string, field: string): string | undefined {
  const match = new RegExp(`^${field}:(.*)$`, "m").exec(text);
  return match?.[1]?.trim();
}

/**
 * Wraps a polled condition so a connection error (a node restarting, or dropping its clients when
 * its role changes) counts as "not yet" instead of ending the wait; `onError` gets its message.
 */
export function retrying(
  condition: () => Promise<boolean>,
  onError: (message: string) => void = () => {},
): () => Promise<boolean> {
  return async () => {
    try {
      return await condition();
    } catch (error) {
      if (
        !(error instanceof Deno.errors.ConnectionReset) &&
        !(error instanceof Deno.errors.ConnectionRefused) &&
        !(error instanceof Deno.errors.BrokenPipe) &&
        !(error instanceof Deno.errors.ConnectionAborted)
      ) throw error;
      onError(`${(error as Error).name}: ${(error as Error).message}`);
      return false;
    }
  };
}
