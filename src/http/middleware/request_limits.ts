import type { MiddlewareHandler } from "hono";
import { ApiError } from "../../errors.ts";
import { MAX_BODY_BYTES } from "../body.ts";
import { DEFAULT_BODY_TIMEOUT_MS } from "../../config.ts";

/** Longest request path accepted, in bytes as sent (percent-encoded). Longer gets 414. */
export const MAX_PATH_BYTES = 2048;

/** Longest query string accepted, in bytes as sent. Longer gets 414. */
export const MAX_QUERY_BYTES = 2048;

/** Options for {@linkcode requestLimits}. */
export interface RequestLimitsOptions {
  /** Longest path, in bytes. @default {MAX_PATH_BYTES} */
  maxPathBytes?: number;
  /** Longest query string, in bytes. @default {MAX_QUERY_BYTES} */
  maxQueryBytes?: number;
  /**
   * Largest declared `Content-Length`, in bytes, for every path or as a function of the path (a
   * batch route takes more than the others). @default {MAX_BODY_BYTES}
   */
  maxBodyBytes?: number | ((path: string) => number);
  /** Longest time to receive a body, in ms, for `readJsonBody`. @default {DEFAULT_BODY_TIMEOUT_MS} */
  bodyTimeoutMs?: number;
}

/** Throws the 413 `payload_too_large` of a declared `Content-Length` past `maxBody` bytes. */
export function checkDeclaredLength(declared: string, maxBody: number): void {
  if (Number(declared) > maxBody) {
    throw new ApiError(413, "payload_too_large", `Request body exceeds ${maxBody} bytes`);
  }
}

function decodes(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * Rejects, before any route runs, what no route accepts: a path or query string past its cap
 * (414 `uri_too_long`), a path or query whose percent-encoding is not UTF-8 or holds NUL (400
 * `invalid_path` / `invalid_query`), and a declared body past the cap on any route (413
 * `payload_too_large`). Also hands the body deadline to `readJsonBody`.
 */
export function requestLimits(options: RequestLimitsOptions = {}): MiddlewareHandler {
  const maxPath = options.maxPathBytes ?? MAX_PATH_BYTES;
  const maxQuery = options.maxQueryBytes ?? MAX_QUERY_BYTES;
  const maxBodyOption = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const maxBodyFor = typeof maxBodyOption === "number" ? () => maxBodyOption : maxBodyOption;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  return async function requestLimits(c, next) {
    // The URL as received: non-ASCII is already percent-encoded, so length is bytes.
    const url = c.req.url;
    const pathStart = url.indexOf("/", url.indexOf("://") + 3);
    const queryStart = url.indexOf("?", pathStart);
    const path = pathStart < 0
      ? "/"
      : url.slice(pathStart, queryStart < 0 ? undefined : queryStart);
    const query = queryStart < 0 ? "" : url.slice(queryStart + 1);
    if (path.length > maxPath) {
      throw new ApiError(
        414,
        "uri_too_long",
        `Request path is ${path.length} bytes, expected at most ${maxPath}`,
      );
    }
    if (query.length > maxQuery) {
      throw new ApiError(
        414,
        "uri_too_long",
        `Query string is ${query.length} bytes, expected at most ${maxQuery}`,
      );
    }
    if (path.includes("%")) {
      const decoded = decodes(path);
      if (decoded === undefined || decoded.includes("\0")) {
        throw new ApiError(
          400,
          "invalid_path",
          "Request path must be percent-encoded UTF-8 without NUL",
        );
      }
    }
    if (query.includes("%")) {
      for (const part of query.split(/[&=]/)) {
        const decoded = decodes(part.replaceAll("+", " "));
        if (decoded === undefined || decoded.includes("\0")) {
          throw new ApiError(
            400,
            "invalid_query",
            "Query string must be percent-encoded UTF-8 without NUL",
          );
        }
      }
    }
    const declared = c.req.header("content-length");
    if (declared !== undefined) checkDeclaredLength(declared, maxBodyFor(path));
    c.set("bodyTimeoutMs", bodyTimeoutMs);
    await next();
  };
}
