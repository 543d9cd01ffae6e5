/**
 * Rate limiting for a plain fetch handler (`Deno.serve` or any `(request) => Response`), decided by the
 * rate-limiter service.
 *
 * ```ts
 * import { withRateLimit } from "./fetch.ts";
 *
 * const handler = (_request: Request) => new Response("hello");
 * Deno.serve(withRateLimit(handler, {
 *   url: "http://127.0.0.1:8000",
 *   key: (request) => request.headers.get("x-api-key") ?? "anonymous",
 *   limit: 100,
 *   window_ms: 60_000,
 * }));
 * ```
 *
 * @module
 */
import { createDecide, type RateLimitOptions } from "./_decide.ts";

export type { RateLimitOptions } from "./_decide.ts";

/** A fetch handler, as `Deno.serve` takes it; extra arguments (e.g. `info`) are passed through. */
export type FetchHandler<A extends unknown[] = unknown[]> = (
  request: Request,
  ...rest: A
) => Response | Promise<Response>;

/**
 * Wraps `handler` so each request is checked with the service first: allowed, the handler's
 * response gets the rate-limit headers; denied, a 429 `{"error": {"code": "rate_limited", ...}}`
 * with `Retry-After` is answered without calling it. When the service cannot answer,
 * `onUnavailable` calls the handler anyway (`"open"`, the default) or answers 503
 * `rate_limiter_unavailable` (`"closed"`). `key` and `cost` read the request.
 */
export function withRateLimit<A extends unknown[]>(
  handler: FetchHandler<A>,
  options: RateLimitOptions<Request>,
): FetchHandler<A> {
  const decide = createDecide(options);
  return async (request, ...rest) => {
    const verdict = await decide(request);
    if (!verdict.pass) return verdict.response;
    const response = await handler(request, ...rest);
    if (Object.keys(verdict.headers).length === 0) return response;
    // A response may have immutable headers (one from fetch()): copy it to add ours.
    const out = new Response(response.body, response);
    for (const [name, value] of Object.entries(verdict.headers)) out.headers.set(name, value);
    return out;
  };
}
