/**
 * Redis calls for the parts of the service that live beside the {@linkcode Store} (node registry,
 * overrides, events, background counts): a deadline on every call, and connection problems turned
 * into {@linkcode StoreUnavailableError} so routes answer 503 and background loops keep retrying.
 *
 * @module
 */
import { StoreUnavailableError } from "./errors.ts";
import type { RedisClient } from "./redis.ts";

/** Default deadline of one management call to Redis, in milliseconds. */
export const REDIS_CALL_TIMEOUT_MS = 2000;

/** A Redis reply as `sendCommand` returns it (RESP2). */
export type RedisReply = number | string | null | RedisReply[];

/** Whether `error` came from the connection (or a timeout) rather than from a Redis reply. */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // An ErrorReply means Redis answered (e.g. a script error): that is a bug, not an outage.
  return error.constructor.name !== "ErrorReply" && error.constructor.name !== "SimpleError";
}

function unavailable(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !isConnectionError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`Redis did not answer: ${message}`, { cause: error });
}

/**
 * Sends one command with a deadline. Throws {@linkcode StoreUnavailableError} when the connection
 * is down or the deadline passes; an error reply from Redis is rethrown as is.
 */
export async function redisCall<T extends RedisReply>(
  client: RedisClient,
  args: string[],
  timeoutMs: number = REDIS_CALL_TIMEOUT_MS,
): Promise<T> {
  // node-redis's own `timeout` only covers a command not yet written to the socket, so a paused or
  // frozen Redis would hold the call forever: race it against a timer of our own.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new StoreUnavailableError(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([client.sendCommand<T>(args, { timeout: timeoutMs }), deadline]);
  } catch (error) {
    throw unavailable(error);
  } finally {
    clearTimeout(timer);
  }
}

/** A Lua script called by SHA, loaded on first use and reloaded after NOSCRIPT. */
export class RedisScript {
  readonly source: string;
  #sha: string | undefined;

  constructor(source: string) {
    this.source = source;
  }

  /** Runs the script; errors as in {@linkcode redisCall}. */
  async run<T extends RedisReply>(
    client: RedisClient,
    keys: string[],
    args: string[],
    timeoutMs: number = REDIS_CALL_TIMEOUT_MS,
  ): Promise<T> {
    const call = (sha: string) =>
      redisCall<T>(client, ["EVALSHA", sha, String(keys.length), ...keys, ...args], timeoutMs);
    this.#sha ??= await redisCall<string>(client, ["SCRIPT", "LOAD", this.source], timeoutMs);
    try {
      return await call(this.#sha);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      // Redis restarted or its scripts were flushed: load again and retry once.
      this.#sha = await redisCall<string>(client, ["SCRIPT", "LOAD", this.source], timeoutMs);
      return await call(this.#sha);
    }
  }
}
