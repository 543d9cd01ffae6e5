/**
 * Reading a request's query string: the one query parser of every route.
 *
 * @module
 */
import { ApiError } from "../errors.ts";

/**
 * The query string of `url` (as received) as an object with no prototype, decoded as
 * `URLSearchParams` does. Throws a 400 `invalid_request` for a parameter outside `allowed` when
 * given (a typo should not be ignored; without it the route's schema decides), then for a
 * parameter given twice (which one counts would be ambiguous).
 */
export function readQuery(url: string, allowed?: readonly string[]): Record<string, string> {
  const start = url.indexOf("?");
  const query: Record<string, string> = Object.create(null);
  if (start < 0) return query;
  const unknown: string[] = [];
  let twice: string | undefined;
  for (const [name, value] of new URLSearchParams(url.slice(start + 1))) {
    if (allowed !== undefined && !allowed.includes(name)) {
      if (!unknown.includes(name)) unknown.push(name);
    } else if (Object.hasOwn(query, name)) {
      twice ??= name;
    } else {
      query[name] = value;
    }
  }
  if (unknown.length > 0) {
    throw new ApiError(
      400,
      "invalid_request",
      `Unknown query parameter ${JSON.stringify(unknown[0])}; expected ${allowed!.join(", ")}`,
      { details: unknown.map((name) => ({ path: name, message: "unknown parameter" })) },
    );
  }
  if (twice !== undefined) {
    throw new ApiError(
      400,
      "invalid_request",
      `Invalid query: parameter ${JSON.stringify(twice)} is given more than once`,
    );
  }
  return query;
}
