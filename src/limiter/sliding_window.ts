import { ceilMs, toMicros } from "./_time.ts";
import { type Decision, type LimitRequest, unitsNeeded } from "./types.ts";

/**
 * State of one key under the sliding window (two-counter estimate): the counts of the current and
 * the previous epoch-aligned window. Times are microseconds.
 */
export interface SlidingWindowState {
  limit: number;
  windowMs: number;
  /** Start of the window `current` belongs to, µs since the epoch. */
  start: number;
  /** Units counted in the window starting at `start`. */
  current: number;
  /** Units counted in the window before it. */
  previous: number;
}

/** Counts of the current and previous window at `now`, for a state stored with `window` µs. */
function windowCounts(state: SlidingWindowState, now: number, window: number): [number, number] {
  const start = now - (now % window);
  if (state.start === start) return [state.current, state.previous];
  if (state.start === start - window) return [0, state.current];
  return [0, 0];
}

/** The estimate: the current count plus the previous one weighted by its overlap, rounded down. */
function estimate(current: number, previous: number, elapsed: number, window: number): number {
  return current + Math.floor(previous * (window - elapsed) / window);
}

/**
 * Current and previous counts under `windowMs`. If the key was last counted under another window
 * length, its estimate under that length becomes the current count (conservative: never a reset).
 */
function counts(
  state: SlidingWindowState | undefined,
  now: number,
  windowMs: number,
): [number, number] {
  if (state === undefined) return [0, 0];
  if (state.windowMs === windowMs) return windowCounts(state, now, windowMs * 1000);
  const old = state.windowMs * 1000;
  const [current, previous] = windowCounts(state, now, old);
  return [estimate(current, previous, now % old, old), 0];
}

/**
 * Smallest elapsed time `e` (µs into a window) at which `floor(n · (window − e) / window) <= m`,
 * i.e. when a previous-window count `n` weighs at most `m`. Mirrors `sw_wait`.
 */
function waitUntil(n: number, m: number, window: number): number {
  if (n <= m) return 0;
  return Math.floor(window - (m + 1) * window / n) + 1;
}

/**
 * Decides one request under the sliding window, without consuming. Mirrors `sw_eval` in the Lua
 * script.
 *
 * The count is `current + floor(previous × (window − elapsed) / window)`: the previous window's
 * count weighted by how much of it the sliding window still covers (Cloudflare's estimate).
 */
export function slidingWindowEvaluate(
  state: SlidingWindowState | undefined,
  request: LimitRequest,
  nowMs: number,
): Decision {
  const now = toMicros(nowMs);
  const { limit, windowMs, cost } = request;
  const window = windowMs * 1000;
  const start = now - (now % window);
  const elapsed = now - start;
  const [current, previous] = counts(state, now, windowMs);
  const weighted = Math.floor(previous * (window - elapsed) / window);
  const count = current + weighted;
  const need = unitsNeeded(cost);
  const allowed = count + need <= limit;
  const added = allowed && cost > 0 ? cost : 0;
  const after = count + added;
  const currentAfter = current + added;
  let retryAfterMs = 0;
  if (!allowed) {
    if (need > limit) {
      retryAfterMs = windowMs;
    } else {
      const m = limit - need - current;
      const at = m >= 0
        ? start + waitUntil(previous, m, window)
        : start + window + waitUntil(current, limit - need, window);
      retryAfterMs = Math.max(1, ceilMs(at - now));
    }
  }
  let resetAfterMs = 0;
  if (weighted > 0) {
    resetAfterMs = ceilMs(start + waitUntil(previous, weighted - 1, window) - now);
  } else if (currentAfter > 0) {
    resetAfterMs = ceilMs(start + window + waitUntil(currentAfter, currentAfter - 1, window) - now);
  }
  return {
    allowed,
    count: after,
    remaining: Math.max(0, limit - after),
    retryAfterMs,
    resetAfterMs,
  };
}

/** Counts `request.cost` units in the current window; call only after an allowing evaluation. */
export function slidingWindowCommit(
  state: SlidingWindowState | undefined,
  request: LimitRequest,
  nowMs: number,
): SlidingWindowState {
  const now = toMicros(nowMs);
  const { limit, windowMs, cost } = request;
  const [current, previous] = counts(state, now, windowMs);
  const start = now - (now % (windowMs * 1000));
  return { limit, windowMs, start, current: current + cost, previous };
}

/** Time (ms since epoch) after which `state` weighs nothing: two windows after its start. */
export function slidingWindowExpiresAt(state: SlidingWindowState): number {
  return (state.start + 2 * state.windowMs * 1000) / 1000;
}
