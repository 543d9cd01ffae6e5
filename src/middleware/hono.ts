/**
 * Rate limiting for a Hono app, decided by the rate-limiter service.
 *
 * ```ts
 * import { Hono } from "hono";
 * import { rateLimit } from "./hono.ts";
 *
 * const app = new Hono();
 * app.use("/api/*", rateLimit({
 *   url: "http://127.0.0.1:8000",
 *   key: (c) => c.req.header("x-api-key") ?? "anonymous",
 *   limit: 100,
 *   window_ms: 60_000,
 * }));
 * ```
 *
 * @module
 */
import { createDecide, type RateLimitOptions } from "./_decide.ts";

export type { RateLimitOptions } from "./_decide.ts";

/**
 * The parts of Hono's `Context` a key or cost function usually reads; Hono's own `Context` is one.
 * Written out so this module imports nothing from hono, neither at run time nor for its types:
 * it works with the app's own copy of hono. Annotate the parameter (`key: (c: Context<MyEnv>) =>
 * …`) to read the rest of the app's context with its types.
 */
export interface HonoContextLike {
  /** The request. */
  req: {
    /** The raw `Request`. */
    raw: Request;
    /** The URL of the request. */
    url: string;
    /** The request's method. */
    method: string;
    /** The request's path. */
    path: string;
    /** A request header, or undefined. */
    header(name: string): string | undefined;
    /** A query parameter, or undefined. */
    query(name: string): string | undefined;
  };
  /** A value set on the context (`c.set`), e.g. by an auth middleware. */
  get(key: string): unknown;
  /** The response, once the handlers after this middleware have run. */
  res: Response;
}

/** A Hono middleware over contexts of type `C` (assignable to Hono's `MiddlewareHandler`). */
export type HonoMiddleware<C extends HonoContextLike> = (
  c: C,
  next: () => Promise<void>,
) => Promise<Response | void>;

/**
 * A Hono middleware that checks each request with the service: allowed, the request goes on and
 * its response carries the rate-limit headers (`X-RateLimit-*`, `RateLimit-Policy`, `RateLimit`);
 * denied, it answers 429 `{"error": {"code": "rate_limited", ...}}` with `Retry-After`. When the
 * service cannot answer, `onUnavailable` lets the request through (`"open"`, the default) or
 * answers 503 `rate_limiter_unavailable` (`"closed"`). A 4xx from the service (e.g. a limit above
 * its policy) is thrown, for the app's `onError`.
 */
export function rateLimit<C extends HonoContextLike>(
  options: RateLimitOptions<C>,
): HonoMiddleware<C> {
  const decide = createDecide(options);
  return async function rateLimit(c, next) {
    const verdict = await decide(c);
    if (!verdict.pass) return verdict.response;
    await next();
    const entries = Object.entries(verdict.headers);
    if (entries.length === 0) return;
    try {
      for (const [name, value] of entries) c.res.headers.set(name, value);
    } catch {
      // Immutable headers (a Response from fetch() or Response.redirect()): copy it.
      c.res = new Response(c.res.body, c.res);
      for (const [name, value] of entries) c.res.headers.set(name, value);
    }
  };
}
