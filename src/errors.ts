/** Body of every error response: `{"error": {"code", "message", "details"?}}`. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** Options for {@linkcode ApiError}. */
export interface ApiErrorOptions {
  /** Machine-readable details, e.g. the list of validation issues. */
  details?: unknown;
  /** Extra response headers, e.g. `Allow` or `Retry-After`. */
  headers?: Record<string, string>;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * An error that becomes a JSON error response with the given HTTP status.
 *
 * The one HTTP error type of the service; `createErrorResponse` (`src/http/errors.ts`) turns it
 * into a response.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, options: ApiErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }

  /** The JSON body of this error. */
  toBody(): ErrorBody {
    const error: ErrorBody["error"] = { code: this.code, message: this.message };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

/** Options for {@linkcode StoreUnavailableError}. */
export interface StoreUnavailableErrorOptions extends ErrorOptions {
  /**
   * What failed, when the thrower knows: `connection`, `reply`, `timeout`, `circuit_open`,
   * `overload` (see `STORE_FAILURE_KINDS`); `undefined` otherwise.
   */
  kind?: string;
  /**
   * Whether the thrower has counted this failure in `ratelimiter_store_errors_total` already
   * (the `BreakerStore` counts every failure it reports); `app.onError` counts the
   * others, as kind `unavailable`. @default {false}
   */
  counted?: boolean;
  /**
   * Whether only part of the backend failed while the rest answers (one master of a Redis
   * Cluster): the circuit breaker then does not count it, so the keys of the other masters keep
   * their exact answers. @default {false}
   */
  partial?: boolean;
}

/** Thrown by a store when its backend (Redis) cannot answer. Maps to 503. */
export class StoreUnavailableError extends Error {
  /** See {@linkcode StoreUnavailableErrorOptions.kind}. */
  readonly kind: string | undefined;
  /** See {@linkcode StoreUnavailableErrorOptions.counted}. */
  readonly counted: boolean;
  /** See {@linkcode StoreUnavailableErrorOptions.partial}. */
  readonly partial: boolean;

  constructor(message: string, options?: StoreUnavailableErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
    this.kind = options?.kind;
    this.counted = options?.counted ?? false;
    this.partial = options?.partial ?? false;
  }
}
