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
