/**
 * What the middleware of every framework share: options, and one check turned into either the
 * headers to add to the app's response or the response that stops the request.
 *
 * @module
 */
import { type CheckResult, createClient, type RatelimiterClient } from "../client/client.ts";
import { RatelimiterUnavailableError } from "../client/errors.ts";
import { rateLimitHeaders } from "../client/headers.ts";
import type { Algorithm } from "../client/types.ts";

/** Options of a rate-limit middleware, where `C` is what the key and cost are read from. */
export interface RateLimitOptions<C> {
  /** The client to check with; give this or `url`. */
  client?: RatelimiterClient;
  /** Base URL of a node, when no `client` is given (a client is created with `timeoutMs`). */
  url?: string;
  /** Timeout of each check when the middleware creates its client, in ms. @default {1000} */
  timeoutMs?: number;
  /** The rate-limit key of a request, e.g. the user id or the client address. */
  key: (context: C) => string | Promise<string>;
  /** Units per window. @default {the node's default or the key's override} */
  limit?: number;
  /** Window in milliseconds. @default {the node's default or the key's override} */
  window_ms?: number;
  /** The algorithm. @default {the node's default} */
  algorithm?: Algorithm;
  /** Units a request uses. @default {() => 1} */
  cost?: (context: C) => number | Promise<number>;
  /**
   * What happens when the service cannot answer (unreachable, timeout, 5xx): `"open"` lets the
   * request through without rate-limit headers, `"closed"` answers 503 with `Retry-After: 1`.
   * @default {"open"}
   */
  onUnavailable?: "open" | "closed";
}

/** The verdict on one request: go on with these headers, or answer this response. */
export type Verdict =
  | { pass: true; headers: Record<string, string> }
  | { pass: false; response: Response };

function json(body: unknown, status: number, headers: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/**
 * Builds the decision function of a middleware from its options. Throws a `TypeError` when
 * neither (or both of) `client` and `url` is given, or `key` is not a function.
 */
export function createDecide<C>(options: RateLimitOptions<C>): (context: C) => Promise<Verdict> {
  if ((options.client === undefined) === (options.url === undefined)) {
    throw new TypeError("Invalid rate-limit options: expected exactly one of client or url");
  }
  if (typeof options.key !== "function") {
    throw new TypeError("Invalid rate-limit options: expected key to be a function");
  }
  const client = options.client ??
    createClient({
      url: options.url!,
      onUnavailable: "throw",
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  const closed = options.onUnavailable === "closed";
  const { limit, window_ms, algorithm, cost } = options;
  return async (context) => {
    let result: CheckResult;
    try {
      result = await client.check({
        key: await options.key(context),
        limit,
        window_ms,
        algorithm,
        cost: cost === undefined ? undefined : await cost(context),
      });
    } catch (error) {
      if (!(error instanceof RatelimiterUnavailableError)) throw error;
      result = { allowed: false, unavailable: true, reason: error.reason, message: "", key: "" };
    }
    if (result.unavailable) {
      if (!closed) return { pass: true, headers: {} };
      return {
        pass: false,
        response: json(
          {
            error: {
              code: "rate_limiter_unavailable",
              message: "The rate limiter is unavailable",
              details: { reason: result.reason },
            },
          },
          503,
          { "Retry-After": "1" },
        ),
      };
    }
    const headers = rateLimitHeaders(result);
    if (result.allowed) return { pass: true, headers };
    return {
      pass: false,
      response: json(
        {
          error: {
            code: "rate_limited",
            message: `Too many requests: retry in ${result.retry_after_seconds} s`,
            details: {
              limit: result.limit,
              remaining: result.remaining,
              window_ms: result.window_ms,
              retry_after_seconds: result.retry_after_seconds,
              retry_after_ms: result.retry_after_ms,
            },
          },
        },
        429,
        headers,
      ),
    };
  };
}
