/**
 * A source of wall-clock time in milliseconds since the Unix epoch (may be fractional).
 *
 * Passed into every part that needs time so tests can fake it.
 */
export type Clock = () => number;

/** The real clock, `Date.now()`. */
export const systemClock: Clock = () => Date.now();

/** A clock a test moves by hand. */
export interface ManualClock extends Clock {
  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void;
  /** Sets the clock to `ms` milliseconds since the epoch. */
  set(ms: number): void;
}

/** Creates a {@linkcode ManualClock} starting at `startMs`. */
export function createManualClock(startMs = 1_700_000_000_000): ManualClock {
  let now = startMs;
  const clock = (() => now) as ManualClock;
  clock.advance = (ms) => {
    now += ms;
  };
  clock.set = (ms) => {
    now = ms;
  };
  return clock;
}
