/**
 * The two kinds of time the service reads, as two types so a signature says which one it wants.
 * Both are plain functions, passed into every part that needs time so tests can fake it (see
 * `tests/_helpers/manual_clock.ts`).
 *
 * @module
 */

/**
 * Wall-clock time in milliseconds since the Unix epoch (may be fractional), as `Date.now()`.
 * For what is stored or compared across nodes and restarts: counter windows, `updatedAt`, the
 * registry's heartbeats, log timestamps. It can jump when the system clock is set.
 */
export type WallClock = () => number;

/**
 * Monotonic time in milliseconds from an arbitrary origin, as `performance.now()`. For durations
 * inside one process (latencies, cache expiry, timeouts): it never goes back, and its values mean
 * nothing outside the process.
 */
export type MonotonicClock = () => number;
