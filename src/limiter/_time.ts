/**
 * Time helpers shared by the O(1) algorithms. They compute in whole microseconds, exactly like the
 * Lua scripts (which receive `Math.round(ms * 1000)` from the Redis store), so both sides do the
 * same double-precision arithmetic in the same order and reach the same decisions.
 *
 * @module
 */

/** Milliseconds (possibly fractional) to whole microseconds, as the Redis store passes them. */
export function toMicros(ms: number): number {
  return Math.round(ms * 1000);
}

/** Microseconds to whole milliseconds, rounded up; 0 for anything not positive. Mirrors `ceil_ms`. */
export function ceilMs(us: number): number {
  return us <= 0 ? 0 : Math.ceil(us / 1000);
}
