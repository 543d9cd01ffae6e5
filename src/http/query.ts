/**
 * Reading a request's query string: the one query parser of every route.
 *
 * @module
 */
import { ApiError } from "../errors.ts";

/** Options for {@linkcode readQuery}. */
export interface ReadQueryOptions {
  /**
   * What a parameter outside the route's known ones does: `"ignore"` (GET routes, as the original
   * service and most HTTP APIs do, so a client's cache-buster or tracking parameter is harmless) or
   * `"reject"` with a 400 (routes that change state, where a typo should not pass unnoticed).
   * @default {"ignore"}
   */
  unknown?: "ignore" | "reject";
}

/**
 * The known parameters of the query string of `url` (as received) as an object with no prototype,
 * decoded as `URLSearchParams` does. Any other parameter is left out, or with
 * `unknown: "reject"` is a 400 `invalid_request`. A known parameter given twice is a 400
 * `invalid_request` too: which one counts would be ambiguous (an unknown one given twice is
 * ignored with the rest).
 */
export function readQuery(
  url: string,
  known: readonly string[],
  options: ReadQueryOptions = {},
): Record<string, string> {
  const start = url.indexOf("?");
  const query: Record<string, string> = Object.create(null);
  if (start < 0) return query;
  const reject = options.unknown === "reject";
  const unknown: string[] = [];
  let twice: string | undefined;
  for (const [name, value] of new URLSearchParams(url.slice(start + 1))) {
    if (!known.includes(name)) {
      if (reject && !unknown.includes(name)) unknown.push(name);
    } else if (Object.hasOwn(query, name)) {
      twice ??= name;
    } else {
      query[name] = value;
    }
  }
  if (unknown.length > 0) {
    const expected = known.length === 0 ? "no parameters" : known.join(", ");
    throw new ApiError(
      400,
      "invalid_request",
      `Unknown query parameter ${JSON.stringify(unknown[0])}; expected ${expected}`,
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
