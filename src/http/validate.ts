/**
 * Validation answers: a zod schema's failure, or problems found after parsing, become one 400
 * `invalid_request` listing every issue.
 *
 * @module
 */
import type { z } from "zod";
import { ApiError } from "../errors.ts";

/** One validation problem, as listed in an error's `details`. */
export interface ValidationIssue {
  /** Dotted path of the offending field, "" for the body itself. */
  path: string;
  message: string;
}

/** Parses `value` with `schema`, throwing a 400 `invalid_request` listing every issue. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what = "request body"): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details: ValidationIssue[] = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join("."),
    message: issue.message,
  }));
  const first = details[0]!;
  throw new ApiError(
    400,
    "invalid_request",
    `Invalid ${what}: ${first.path === "" ? "" : `"${first.path}" `}${first.message}`,
    { details },
  );
}

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
