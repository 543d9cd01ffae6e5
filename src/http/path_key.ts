/**
 * Where a path-key route's key comes from: the raw request path, read once, percent-decoded
 * strictly and checked against the key rule. The one path-key parser of `/check/{key}`,
 * `/api/limits/{key}` and `/api/counters/{key}/reset`.
 *
 * @module
 */
import type { Context } from "hono";
import { routePath } from "hono/route";
import { ApiError } from "../errors.ts";
import { keyProblem } from "../limiter/bounds.ts";

/**
 * The path of a request URL exactly as the client sent it (still percent-encoded), without the
 * query. Read from the string, as the router does, never through `new URL()`: URL parsing turns a
 * raw `\` into `/` (and resolves `.` and `..` segments), so a key taken from the parsed path
 * would address another key than the one the route matched (`DOMAIN\alice` would become `alice`).
 */
export function rawPath(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return url.slice(start, query < 0 ? undefined : query);
}

/**
 * The rate-limit key of the route being handled: the raw path segments where its pattern has the
 * `:key` parameter (several for `/check/:key{.+}`, whose key may hold `/`), percent-decoded
 * strictly. A malformed escape (`%E0%A4%A`) or a key that is not valid (empty, NUL, over
 * `MAX_KEY_BYTES`) is a 400 `invalid_request`. One trailing slash is not part of the key (the
 * route is the same with or without it). Decoding the raw segments ourselves matters because
 * the router leaves malformed escapes undecoded instead of rejecting them. Every other character
 * is literal: a raw `\` is part of the key, the same key as `%5C`.
 *
 * Throws a `TypeError` when the route has no `:key` parameter (a programming error).
 */
export function pathKey(c: Context): string {
  const pattern = routePath(c).split("/");
  const at = pattern.findIndex((segment) => segment.startsWith(":key"));
  if (at < 0) throw new TypeError(`Route ${routePath(c)} has no :key parameter`);
  // The router serves a path with one trailing slash as the same route (`strict: false`), so that
  // slash is not part of the key: a key ending in "/" is sent as "%2F".
  const path = rawPath(c.req.url);
  const segments = (path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path).split("/");
  const raw = segments.slice(at, segments.length - (pattern.length - 1 - at)).join("/");
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    throw new ApiError(
      400,
      "invalid_request",
      `Invalid key in the path: ${JSON.stringify(raw)} is not valid percent-encoded UTF-8`,
      { details: [{ path: "key", message: "must be percent-encoded UTF-8" }] },
    );
  }
  const problem = keyProblem(key);
  if (problem !== undefined) {
    throw new ApiError(400, "invalid_request", `Invalid key in the path: key ${problem}`, {
      details: [{ path: "key", message: `key ${problem}` }],
    });
  }
  return key;
}
