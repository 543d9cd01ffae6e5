/**
 * Redis calls for the parts of the service that live beside the {@linkcode Store} (node registry,
 * overrides, events, background counts): a deadline on every call, and failures that mean "Redis
 * cannot serve now" (connection problems, timeouts and error replies such as `BUSY` or `OOM`)
 * turned into {@linkcode StoreUnavailableError}, so routes answer 503 and background loops keep
 * retrying. Any other error reply (a wrong command, a script bug) is rethrown as is: a 500.
 * Scripts run through {@linkcode RedisScript} (`script.ts`), under the same rules.
 *
 * @module
 */
import { StoreUnavailableError } from "../errors.ts";
import type { RedisClient } from "./connection.ts";
import { callFailure } from "./errors.ts";
import { DEADLINE_PASSED, withDeadline } from "../deadline.ts";

/** Default deadline of one management call to Redis, in milliseconds. */
export const REDIS_CALL_TIMEOUT_MS = 2000;

/** A Redis reply as `sendCommand` returns it (RESP2). */
export type RedisReply = number | string | null | RedisReply[];

/**
 * Runs `send` and waits for its reply at most `timeoutMs`: throws
 * {@linkcode StoreUnavailableError} when the deadline passes or the failure means Redis cannot
 * serve now, any other error as it is.
 */
export async function settleCall<T>(send: () => Promise<T>, timeoutMs: number): Promise<T> {
  // node-redis's own `timeout` only covers a command not yet written to the socket, so a paused or
  // frozen Redis would hold the call forever: race it against a timer of our own.
  let settled: T | typeof DEADLINE_PASSED;
  try {
    settled = await withDeadline(send(), timeoutMs);
  } catch (error) {
    throw callFailure(error);
  }
  if (settled === DEADLINE_PASSED) {
    throw new StoreUnavailableError(`Redis did not answer within ${timeoutMs} ms`);
  }
  return settled;
}

/**
 * Sends one command with a deadline. Throws {@linkcode StoreUnavailableError} when the connection
 * is down, the deadline passes or Redis replies that it cannot serve now
 * ({@linkcode UNAVAILABLE_REPLY_CODES}); any other error reply is rethrown as is.
 */
export function redisCall<T extends RedisReply>(
  client: RedisClient,
  args: string[],
  timeoutMs: number = REDIS_CALL_TIMEOUT_MS,
): Promise<T> {
  return settleCall(() => client.sendCommand<T>(args, { timeout: timeoutMs }), timeoutMs);
}
