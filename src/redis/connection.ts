/**
 * The one shape every part of the service talks to Redis through, whatever the mode
 * (`standalone`, `cluster`, `sentinel`): a command goes to the node owning its first key, a
 * per-node command (SCAN) to each master in turn, and pub/sub gets a subscriber of its own. The
 * implementations are `standalone.ts`, `cluster.ts` and `sentinel.ts`; `client.ts` picks one.
 *
 * @module
 */
import type { RedisMode } from "./target.ts";

/** Options of one command, as node-redis's `sendCommand` takes them. */
export interface CommandOptions {
  /** node-redis's own timeout: only covers a command not yet written to the socket. */
  timeout?: number;
  /** Aborts a command not yet written. */
  abortSignal?: AbortSignal;
}

/** Options of one routed command. */
export interface SendOptions extends CommandOptions {
  /**
   * The key deciding which cluster node the command goes to; derived from the command by
   * {@linkcode commandKey} when unset (`SCRIPT LOAD` has no key of its own: set it).
   */
  key?: string;
}

/** One master of the deployment, for commands that work per node (SCAN, SCRIPT LOAD). */
export interface RedisNode {
  /** `host:port` of the node. */
  readonly address: string;
  /** Sends a command to this node only. */
  sendCommand<T>(args: string[], options?: CommandOptions): Promise<T>;
}

/** A pub/sub connection: subscribes to channels, follows the deployment's topology. */
export interface RedisSubscriber {
  /** Resolves once connected, retrying with backoff until then; rejects only once closed. */
  connect(): Promise<unknown>;
  /** Subscribes `listener` to `channel` (classic pub/sub, which a cluster broadcasts). */
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  /** Listens to connection errors (each failed reconnect). */
  on(event: "error", listener: (error: Error) => void): unknown;
  /** Listens to (re)connections. */
  on(event: "ready", listener: () => void): unknown;
  /** Whether the connection is open (connected or reconnecting) and not closed. */
  readonly isOpen: boolean;
  /** Closes, letting pending replies arrive. */
  close(): Promise<unknown>;
  /** Drops the connection at once. */
  destroy(): unknown;
}

/** The service's connection to Redis, in any mode. */
export interface RedisClient {
  /** How the connection reaches Redis. */
  readonly mode: RedisMode;
  /** Whether commands can be sent now (cluster: at least one master connected). */
  readonly isReady: boolean;
  /** Whether the connection is open (connected or reconnecting) and not closed. */
  readonly isOpen: boolean;
  /**
   * Sends one command to the node owning its key (`options.key`, else {@linkcode commandKey});
   * any node for a command without a key. Rejects at once while disconnected (no offline queue).
   */
  sendCommand<T>(args: string[], options?: SendOptions): Promise<T>;
  /** The masters now, in address order; one entry outside a cluster. */
  masters(): RedisNode[];
  /** `host:port` of the master owning `key`; `""` outside a cluster or while it is unknown. */
  nodeOf(key: string): string;
  /** A new pub/sub connection, not connected yet. */
  subscriber(name: string): RedisSubscriber;
  /** Listens to connection errors (each failed reconnect). */
  on(event: "error", listener: (error: Error) => void): unknown;
  /** Listens to (re)connections. */
  on(event: "ready", listener: () => void): unknown;
  /** Resolves once connected, retrying with backoff; rejects only once closed. */
  connect(): Promise<unknown>;
  /** Closes, letting pending replies arrive. */
  close(): Promise<unknown>;
  /** Drops the connection at once. */
  destroy(): unknown;
}

/** Commands without a key: they may go to any node (or, like SCAN, each node in turn). */
const KEYLESS = new Set([
  "PING",
  "ECHO",
  "SCAN",
  "SCRIPT",
  "INFO",
  "PUBLISH",
  "TIME",
  "DBSIZE",
  "FLUSHALL",
  "FLUSHDB",
  "CLIENT",
  "CONFIG",
  "CLUSTER",
  "COMMAND",
  "DEBUG",
  "FUNCTION",
  "SLOWLOG",
  "LATENCY",
  "MEMORY",
  "WAIT",
]);

/**
 * The key a command is routed by: the first key of EVAL/EVALSHA/FCALL (`undefined` with no
 * keys), `undefined` for keyless commands (PING, SCAN, SCRIPT, PUBLISH…), else the first argument.
 */
export function commandKey(args: readonly string[]): string | undefined {
  const name = args[0]?.toUpperCase();
  if (name === undefined || KEYLESS.has(name)) return undefined;
  if (
    name === "EVAL" || name === "EVALSHA" || name === "EVAL_RO" || name === "EVALSHA_RO" ||
    name === "FCALL" || name === "FCALL_RO"
  ) {
    return Number(args[2]) > 0 ? args[3] : undefined;
  }
  return args[1];
}

/** A backoff for reconnecting: capped exponential with jitter, in ms. */
export function reconnectDelay(retries: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 10), 2000) + Math.floor(Math.random() * 50);
}
