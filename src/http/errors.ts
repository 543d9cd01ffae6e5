/**
 * The one error → Response mapping of the HTTP layer, used by `app.onError`, the 404/405 answers
 * and the `POST /check` fast path alike, so every error answer has one shape:
 * `{"error": {"code", "message", "details"?}}`.
 *
 * @module
 */
import { HTTPException } from "hono/http-exception";
import { OverridesFullError } from "../cluster/override_store.ts";
import { ApiError, StoreUnavailableError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";

/** Options for {@linkcode createErrorResponse}. */
export interface ErrorResponseOptions {
  /** Where a store failure nobody counted yet is counted (`ratelimiter_store_errors_total`). */
  metrics: Pick<Metrics, "storeErrors">;
  /** Where an unexpected error is logged, with the request's method and path. */
  logger: Logger;
}

/** Turns an error thrown while handling `method path` into its JSON error answer. */
export type ErrorResponse = (error: Error, method: string, path: string) => Response;

/**
 * Builds the error → Response mapping: an {@linkcode ApiError} answers its own status, code and
 * headers; a {@linkcode StoreUnavailableError} a 503 `store_unavailable` with `Retry-After: 1`
 * (counted as a store error unless the store counted it); an {@linkcode OverridesFullError} a 409
 * `too_many_overrides` with the cap in `details.max`; Hono's `HTTPException` its status as
 * `http_error`; anything else is logged with its stack and answers a 500 `internal_error` without
 * it.
 */
export function createErrorResponse(options: ErrorResponseOptions): ErrorResponse {
  const { metrics, logger } = options;
  return (error, method, path) => {
    if (error instanceof ApiError) {
      return jsonResponse(error.toBody(), error.status, error.headers);
    }
    if (error instanceof StoreUnavailableError) {
      // The BreakerStore counts the failures it reports, each under its kind.
      if (!error.counted) metrics.storeErrors.inc({ kind: "unavailable" });
      const body = new ApiError(503, "store_unavailable", "The rate-limit store is unavailable");
      return jsonResponse(body.toBody(), 503, { "Retry-After": "1" });
    }
    if (error instanceof OverridesFullError) {
      const body = new ApiError(409, "too_many_overrides", error.message, {
        details: { max: error.max },
      });
      return jsonResponse(body.toBody(), 409);
    }
    if (error instanceof HTTPException) {
      const body = new ApiError(error.status, "http_error", error.message || "Request rejected");
      return jsonResponse(body.toBody(), error.status);
    }
    logger.error("unhandled_error", { method, path, error: error.message, stack: error.stack });
    const body = new ApiError(500, "internal_error", "Internal server error");
    return jsonResponse(body.toBody(), 500);
  };
}

/** A JSON response as Hono's `c.json(body, status, headers)` builds it on a fresh context. */
export function jsonResponse(
  body: unknown,
  status: number,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}
