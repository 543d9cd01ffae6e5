import { ceilMs, toMicros } from "./_time.ts";
import { type Decision, type LimitRequest, unitsNeeded } from "./types.ts";

/**
 * State of one key under the fixed window: the count of the window that ends at `end`.
 *
 * Windows are aligned to the Unix epoch (`[k·window, (k+1)·window)`), so every key's window of a
 * given length starts at the same instant. Times are microseconds.
 */
export interface FixedWindowState {
  limit: number;
  windowMs: number;
  /** End of the counted window, µs since the epoch. */
  end: number;
  /** Units counted in it. */
  count: number;
}

function windowEnd(now: number, windowMs: number): number {
  const window = windowMs * 1000;
  return now - (now % window) + window;
}

/**
 * Decides one request under the fixed window, without consuming. Mirrors `fw_eval` in the Lua
 * script.
 *
 * A stored count holds until the end of the window it was counted in, even if `windowMs` changed
 * since (the new length applies from the next window), so changing the window never resets a key.
 */
export function fixedWindowEvaluate(
  state: FixedWindowState | undefined,
  request: LimitRequest,
  nowMs: number,
): Decision {
  const now = toMicros(nowMs);
  const { limit, windowMs, cost } = request;
  const live = state !== undefined && now < state.end;
  const count = live ? state.count : 0;
  const end = live ? state.end : windowEnd(now, windowMs);
  const need = unitsNeeded(cost);
  const allowed = count + need <= limit;
  const after = allowed && cost > 0 ? count + cost : count;
  let retryAfterMs = 0;
  if (!allowed) retryAfterMs = need > limit ? windowMs : ceilMs(end - now);
  return {
    allowed,
    count: after,
    remaining: Math.max(0, limit - after),
    retryAfterMs,
    resetAfterMs: after > 0 ? ceilMs(end - now) : 0,
  };
}

/** Counts `request.cost` units; call only after an allowing evaluation. */
export function fixedWindowCommit(
  state: FixedWindowState | undefined,
  request: LimitRequest,
  nowMs: number,
): FixedWindowState {
  const now = toMicros(nowMs);
  const { limit, windowMs, cost } = request;
  if (state !== undefined && now < state.end) {
    return { limit, windowMs, end: state.end, count: state.count + cost };
  }
  return { limit, windowMs, end: windowEnd(now, windowMs), count: cost };
}

/** Time (ms since epoch) at which `state`'s window ends and it may be dropped. */
export function fixedWindowExpiresAt(state: FixedWindowState): number {
  return state.end / 1000;
}
