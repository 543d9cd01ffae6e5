/**
 * The only module that knows node-redis's error classes: which failures mean "Redis cannot serve
 * now" (connection problems, timeouts, error replies such as `BUSY` or `OOM`) and which are
 * genuine errors (a wrong command, a script bug).
 *
 * @module
 */
import { ErrorReply } from "redis";
import { StoreUnavailableError } from "../errors.ts";

/**
 * Error codes (the first word of an error reply) that mean the server cannot serve the command
 * now, though the command is right: busy running a script (`BUSY`), out of memory under
 * `noeviction` (`OOM`), loading its dataset (`LOADING`), a read-only or cut-off replica
 * (`READONLY`, `MASTERDOWN`), refusing writes after a failed save (`MISCONF`), too few replicas
 * (`NOREPLICAS`) or a cluster in transition (`TRYAGAIN`, `CLUSTERDOWN`).
 */
export const UNAVAILABLE_REPLY_CODES: ReadonlySet<string> = new Set([
  "BUSY",
  "OOM",
  "LOADING",
  "READONLY",
  "MASTERDOWN",
  "MISCONF",
  "NOREPLICAS",
  "TRYAGAIN",
  "CLUSTERDOWN",
]);

/** Whether `error` is an error reply from Redis (node-redis `ErrorReply` and its subclasses). */
export function isErrorReply(error: unknown): error is ErrorReply {
  return error instanceof ErrorReply;
}

/**
 * The error code of a Redis error reply (`"OOM"` for `OOM command not allowed ...`), or
 * `undefined` when `error` is not an error reply.
 */
export function replyCode(error: unknown): string | undefined {
  if (!isErrorReply(error)) return undefined;
  return /^[A-Z]+/.exec(error.message)?.[0];
}

/** Whether `error` came from the connection (or a timeout) rather than from a Redis reply. */
export function isConnectionError(error: unknown): boolean {
  // An error reply means Redis answered (e.g. a script error): not a connection problem.
  return error instanceof Error && !isErrorReply(error);
}

/**
 * Whether `error` means Redis cannot serve now: a connection problem, a timeout or an error reply
 * whose code is in {@linkcode UNAVAILABLE_REPLY_CODES}.
 */
export function isUnavailableError(error: unknown): boolean {
  if (error instanceof StoreUnavailableError || isConnectionError(error)) return true;
  const code = replyCode(error);
  return code !== undefined && UNAVAILABLE_REPLY_CODES.has(code);
}

/** Whether `error` is Redis's `NOSCRIPT` reply: the script is not loaded (restart, `SCRIPT FLUSH`). */
export function isNoScript(error: unknown): boolean {
  return replyCode(error) === "NOSCRIPT";
}

/**
 * What failed in a store call, as the `kind` label of `ratelimiter_store_errors_total` names it:
 * `reply` when Redis answered with an error (a script error, `OOM`, `LOADING`…), `connection`
 * when the client could not send or lost the connection. Timeouts are the caller's: the store's
 * calls carry no deadline of their own.
 */
export type RedisFailureKind = "reply" | "connection";

/** The {@linkcode RedisFailureKind} of a failed call. */
export function failureKind(error: unknown): RedisFailureKind {
  return isErrorReply(error) ? "reply" : "connection";
}

/**
 * Any failure of a counter-store call, an error reply included, as the error the rest of the
 * service maps to 503, its `kind` set by {@linkcode failureKind} so that no caller needs to know
 * node-redis's classes. `partial`: only one master of a cluster failed, the others answer.
 */
export function storeUnavailable(error: unknown, partial = false): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`Redis did not answer: ${message}`, {
    cause: error,
    kind: failureKind(error),
    partial,
  });
}

/**
 * A failure of a management call (registry, overrides, events, background counts) as callers
 * see it: a {@linkcode StoreUnavailableError} (503, `kind` unset) when Redis cannot serve now
 * ({@linkcode isUnavailableError}), any other error as it is (a wrong command, a script bug: 500).
 */
export function callFailure(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !isUnavailableError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const what = isErrorReply(error) ? "Redis cannot serve now" : "Redis did not answer";
  return new StoreUnavailableError(`${what}: ${message}`, { cause: error });
}
