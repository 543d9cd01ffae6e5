/**
 * The Redis connection of the node: {@linkcode initRedis} connects the one process-wide client
 * that `main.ts` passes to the store, the cluster parts and the events publisher, and
 * {@linkcode closeRedis} closes it at shutdown. {@linkcode createRedisClient} makes any extra
 * connection (the pub/sub subscriber, tests, benchmarks).
 *
 * @module
 */
import { createClient } from "redis";
import { redactUrl } from "./redact.ts";
import type { Logger } from "../log.ts";
import { DEADLINE_PASSED, withDeadline } from "../deadline.ts";

/** The node-redis client type used throughout the service. */
export type RedisClient = ReturnType<typeof createClient>;

/** Options for {@linkcode initRedis} and {@linkcode createRedisClient}. */
export interface RedisOptions {
  /** How long the first connection and PING may take, in milliseconds. @default {5000} */
  connectTimeoutMs?: number;
  /** Logger for connection events. @default {none} */
  logger?: Logger;
  /** Client name shown by `CLIENT LIST`. @default {"ratelimiter"} */
  name?: string;
}

/** Thrown when Redis cannot be reached at start; the message names the URL without its password. */
export class RedisConnectError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisConnectError";
  }
}

/**
 * Creates and connects a Redis client, resolving once it answers PING.
 *
 * The client reconnects by itself with capped exponential backoff and jitter, and rejects commands
 * while disconnected instead of queueing them, so callers fail fast during an outage.
 */
export async function createRedisClient(
  url: string,
  options: RedisOptions = {},
): Promise<RedisClient> {
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  const logger = options.logger;
  const client = createClient({
    url,
    name: options.name ?? "ratelimiter",
    disableOfflineQueue: true,
    socket: {
      connectTimeout: timeoutMs,
      reconnectStrategy: (retries: number) =>
        Math.min(50 * 2 ** Math.min(retries, 10), 2000) + Math.floor(Math.random() * 50),
    },
  });
  let lastError = "";
  client.on("error", (error: Error) => {
    // node-redis reports every failed reconnect; log each distinct message once in a row.
    if (error.message !== lastError) {
      lastError = error.message;
      logger?.warn("redis_error", { url: redactUrl(url), error: error.message });
    }
  });
  client.on("ready", () => {
    lastError = "";
    logger?.info("redis_ready", { url: redactUrl(url) });
  });
  try {
    const answered = await withDeadline(client.connect().then(() => client.ping()), timeoutMs);
    if (answered === DEADLINE_PASSED) throw new Error(`no answer within ${timeoutMs} ms`);
    return client;
  } catch (error) {
    client.destroy();
    const reason = error instanceof Error ? error.message : String(error);
    throw new RedisConnectError(
      `Cannot connect to Redis at ${redactUrl(url)}: ${reason || lastError || "unknown error"}`,
      { cause: error },
    );
  }
}

/** The one connected client of the process, between initRedis() and closeRedis(). */
let shared: RedisClient | undefined;

/**
 * Connects the process-wide Redis client and returns it; see {@linkcode createRedisClient}. The
 * composition root (`main.ts`) calls it once and passes the client to every part that needs it;
 * {@linkcode closeRedis} closes it last. Extra connections (the pub/sub subscriber) come from
 * {@linkcode createRedisClient}.
 */
export async function initRedis(url: string, options: RedisOptions = {}): Promise<RedisClient> {
  if (shared !== undefined) {
    throw new Error("Redis is already initialised: call closeRedis() first");
  }
  shared = await createRedisClient(url, options);
  return shared;
}

/** Options for {@linkcode closeRedis}. */
export interface CloseRedisOptions {
  /**
   * Longest wait for pending replies, in ms; then the connection is dropped. A paused or
   * unreachable Redis would otherwise hold the shutdown as long as it stays silent.
   * @default {2000}
   */
  timeoutMs?: number;
}

/**
 * Closes the process-wide client, letting pending replies arrive within `timeoutMs`, then
 * dropping the connection. Safe to call more than once.
 */
export async function closeRedis(options: CloseRedisOptions = {}): Promise<void> {
  const client = shared;
  shared = undefined;
  if (client === undefined) return;
  const timeoutMs = options.timeoutMs ?? 2000;
  try {
    if (!client.isOpen) return;
    if (await withDeadline(client.close(), timeoutMs) === DEADLINE_PASSED) client.destroy();
  } catch {
    try {
      client.destroy();
    } catch { /* already closed */ }
  }
}
