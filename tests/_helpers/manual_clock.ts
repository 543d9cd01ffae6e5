/**
 * A clock a test moves by hand, usable wherever a {@linkcode WallClock} or a
 * {@linkcode MonotonicClock} is expected.
 *
 * @module
 */
import type { MonotonicClock, WallClock } from "../../src/clock.ts";

/** A clock a test moves by hand. */
export interface ManualClock extends WallClock, MonotonicClock {
  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void;
  /** Sets the clock to `ms` milliseconds since the epoch. */
  set(ms: number): void;
}

/** Creates a {@linkcode ManualClock} starting at `startMs` (ms since the epoch). */
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
