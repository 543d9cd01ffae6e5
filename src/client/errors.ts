/**
 * The errors the client throws: {@linkcode RatelimiterError} for an answer the service refused
 * (4xx), {@linkcode RatelimiterUnavailableError} when the service could not answer.
 *
 * @module
 */

/** Why the service could not answer. */
export type UnavailableReason =
  /** The request could not be sent or its answer not read (refused, reset, DNS, …). */
  | "network"
  /** No complete answer within the call's timeout. */
  | "timeout"
  /** The node answered 503 `store_unavailable`: its store cannot answer. */
  | "store_unavailable"
  /** Any other 5xx, or an answer that is not the service's JSON (e.g. from a proxy). */
  | "server_error";

/**
 * A 4xx answer of the service: the request was refused (bad input, policy violation, not found,
 * unauthorized, …) and changed nothing. A denied check is not an error: it is an answer with
 * `allowed: false`.
 */
export class RatelimiterError extends Error {
  /** The HTTP status, 400 to 499. */
  readonly status: number;
  /** The service's error code, e.g. `invalid_request`, `not_found`, `unauthorized`. */
  readonly code: string;
  /** The service's `details`, e.g. the list of validation issues; undefined when none. */
  readonly details: unknown;

  /** Builds the error of a refused request. */
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "RatelimiterError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/**
 * The service could not answer: unreachable, too slow, its store down, or a 5xx. Thrown by the
 * management calls, and by checks when the client's `onUnavailable` is `"throw"`.
 */
export class RatelimiterUnavailableError extends Error {
  /** Why the service could not answer. */
  readonly reason: UnavailableReason;
  /** The HTTP status when the service (or a proxy) answered one, else undefined. */
  readonly status: number | undefined;

  /** Builds the error for `reason`. */
  constructor(reason: UnavailableReason, message: string, options: ErrorOptions & {
    status?: number | undefined;
  } = {}) {
    super(message, { cause: options.cause });
    this.name = "RatelimiterUnavailableError";
    this.reason = reason;
    this.status = options.status;
  }
}
