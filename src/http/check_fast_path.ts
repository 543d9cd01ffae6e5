/**
 * The fast path of the exact `POST /check` (or `/check/`; no query string), the one route under load: Hono's
 * routing, compose and per-request context cost about as much as the whole check on the embedded
 * store (`bench/RESULTS.md`, "Fourth pass"). It does what the middlewares and the route do for
 * that request, in the same order and with the same helpers: the HTTP metrics (route `/check`),
 * the declared-length 413 of `requestLimits` (its path and query rules cannot fail on `/check`
 * with no query), the same handler, and the same error answers. Anything else goes to Hono.
 * `tests/http/check_fast_path_test.ts` sends the same requests both ways and compares the answers.
 *
 * @module
 */
import type { Hono } from "hono";
import type { MonotonicClock } from "../clock.ts";
import { MAX_BODY_BYTES } from "./body.ts";
import type { ErrorResponse } from "./errors.ts";
import { checkDeclaredLength } from "./middleware/request_limits.ts";

/** A `fetch` handler, as Hono's `app.fetch`. */
export type Fetch = Hono["fetch"];

/** Options for {@linkcode createCheckFastPath}. */
export interface CheckFastPathOptions {
  /** The handler of `POST /check`, the one its Hono route runs too (`createCheckHandler`). */
  handleCheck: (request: Request, bodyTimeoutMs: number) => Promise<Response>;
  /** Longest time to receive the body, in ms, as `requestLimits` gives the route. */
  bodyTimeoutMs: number;
  /** The app's error mapping, for errors thrown by the handler or the length check. */
  errorResponse: ErrorResponse;
  /** Counts one answered `POST /check` in the HTTP metrics: its status and duration in seconds. */
  observe: (status: number, seconds: number) => void;
  /** Time source for the duration, in ms. */
  clock: MonotonicClock;
}

/**
 * Wraps `fallback` (Hono's `fetch`) so the exact `POST /check` is answered without Hono, and any
 * other request (including `POST /check?...`) goes to `fallback` unchanged.
 */
export function createCheckFastPath(options: CheckFastPathOptions, fallback: Fetch): Fetch {
  const { handleCheck, bodyTimeoutMs, errorResponse, observe, clock } = options;
  return async function checkFastPath(request, env, executionCtx) {
    if (request.method !== "POST" || !isExactCheckUrl(request.url)) {
      return await fallback(request, env, executionCtx);
    }
    const started = clock();
    let response: Response;
    try {
      const declared = request.headers.get("content-length");
      if (declared !== null) checkDeclaredLength(declared, MAX_BODY_BYTES);
      response = await handleCheck(request, bodyTimeoutMs);
    } catch (error) {
      // Like Hono: only an `Error` goes to the error handler; anything else propagates.
      if (!(error instanceof Error)) throw error;
      response = errorResponse(error, "POST", "/check");
    }
    observe(response.status, (clock() - started) / 1000);
    return response;
  };
}

/**
 * Whether `url` (absolute, as received) has the path `/check` or `/check/` (the router serves both)
 * and no query string.
 */
export function isExactCheckUrl(url: string): boolean {
  const end = url.endsWith("/check") ? 6 : url.endsWith("/check/") ? 7 : 0;
  return end > 0 && url.indexOf("/", url.indexOf("://") + 3) === url.length - end;
}
