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

/**
 * The 400 `invalid_request` listing `issues` (at least one), its message naming the first: the
 * one formatter of validation answers, for a schema's failure and for later checks alike.
 */
export function invalidRequest(issues: ValidationIssue[], what = "request body"): ApiError {
  const first = issues[0]!;
  return new ApiError(
    400,
    "invalid_request",
    `Invalid ${what}: ${first.path === "" ? "" : `"${first.path}" `}${first.message}`,
    { details: issues },
  );
}

/** Throws the 400 `invalid_request` listing `issues`, if there are any. */
export function throwIssues(issues: ValidationIssue[], what = "request body"): void {
  if (issues.length > 0) throw invalidRequest(issues, what);
}

/** Parses `value` with `schema`, throwing a 400 `invalid_request` listing every issue. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what = "request body"): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw invalidRequest(
    result.error.issues.map((issue) => ({
      path: issue.path.map(String).join("."),
      message: issue.message,
    })),
    what,
  );
}
