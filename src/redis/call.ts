/**
 * Redis calls for the parts of the service that live beside the {@linkcode Store} (node registry,
 * overrides, events, background counts): a deadline on every call, and failures that mean "Redis
 * cannot serve now" (connection problems, timeouts and error replies such as `BUSY` or `OOM`)
 * turned into {@linkcode StoreUnavailableError}, so routes answer 503 and background loops keep
 * retrying. Any other error reply (a wrong command, a script bug) is rethrown as is: a 500.
 *
 * @module
 */
import { StoreUnavailableError } from "../errors.ts";
import type { RedisClient } from "./client.ts";
import { isErrorReply, isUnavailableError } from "./errors.ts";
import { DEADLINE_PASSED, withDeadline } from "../deadline.ts";

/** Default deadline of one management call to Redis, in milliseconds. */
export const REDIS_CALL_TIMEOUT_MS = 2000;

/** A Redis reply as `sendCommand` returns it (RESP2). */
export type RedisReply = number | string | null | RedisReply[];

function unavailable(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !isUnavailableError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const what = isErrorReply(error) ? "Redis cannot serve now" : "Redis did not answer";
  return new StoreUnavailableError(`${what}: ${message}`, { cause: error });
}

/**
 * Sends one command with a deadline. Throws {@linkcode StoreUnavailableError} when the connection
 * is down, the deadline passes or Redis replies that it cannot serve now
 * ({@linkcode UNAVAILABLE_REPLY_CODES}); any other error reply is rethrown as is.
 */
export async function redisCall<T extends RedisReply>(
  client: RedisClient,
  args: string[],
  timeoutMs: number = REDIS_CALL_TIMEOUT_MS,
): Promise<T> {
  // node-redis's own `timeout` only covers a command not yet written to the socket, so a paused or
  // frozen Redis would hold the call forever: race it against a timer of our own.
  let reply: T | typeof DEADLINE_PASSED;
  try {
    reply = await withDeadline(client.sendCommand<T>(args, { timeout: timeoutMs }), timeoutMs);
  } catch (error) {
    throw unavailable(error);
  }
  if (reply === DEADLINE_PASSED) {
    throw new StoreUnavailableError(`Redis did not answer within ${timeoutMs} ms`);
  }
  return reply;
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
