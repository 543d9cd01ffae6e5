/**
 * The domain bounds: hard limits every request, override and setting obeys whatever the operator
 * configures. Defined here once and imported by the config, the HTTP input checks and the limits
 * policy alike; the README's tables state the same numbers.
 *
 * @module
 */

/** One day, in milliseconds: the unit the window bounds are written in. */
export const DAY_MS = 86_400_000;

/** Largest `limit` (and `cost`, `burst`, `refill_rate`) any request or override may name. */
export const MAX_LIMIT = 1_000_000;
/** Longest `window_ms` any request or override may name: 30 days. */
export const MAX_WINDOW_MS = 30 * DAY_MS;

/** Most limits one multi-limit check may carry. */
export const MAX_LIMITS_PER_CHECK = 16;
/** Most checks one batch may carry. */
export const MAX_BATCH_CHECKS = 1000;

/** Longest rate-limit key, in bytes of UTF-8. */
export const MAX_KEY_BYTES = 512;

const encoder = new TextEncoder();

/** Length of `text` in bytes of UTF-8. */
export function utf8Length(text: string): number {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  return ascii ? text.length : encoder.encode(text).byteLength;
}

/**
 * Why `key` is not a valid rate-limit key, or `undefined` when it is: 1 to
 * {@linkcode MAX_KEY_BYTES} bytes of UTF-8, well-formed (no lone surrogates) and without NUL.
 */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return "must not be empty";
  if (!key.isWellFormed()) return "must be well-formed Unicode (no lone surrogates)";
  if (key.includes("\0")) return "must not contain NUL";
  const bytes = utf8Length(key);
  if (bytes > MAX_KEY_BYTES) {
    return `must be at most ${MAX_KEY_BYTES} bytes of UTF-8, received ${bytes}`;
  }
  return undefined;
}
