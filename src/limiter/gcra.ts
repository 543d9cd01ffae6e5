import { ceilMs, toMicros } from "./_time.ts";
import { type Decision, type LimitRequest, unitsNeeded } from "./types.ts";

/**
 * State of one key under GCRA (virtual scheduling): its theoretical arrival time, in µs.
 */
export interface GcraState {
  limit: number;
  windowMs: number;
  burst: number;
  /** Theoretical arrival time: when the bucket would be empty, µs since the epoch. */
  tat: number;
}

/**
 * Emission interval `T` in whole µs: `window / limit`, rounded up so the rate never exceeds
 * `limit` per window. Mirrors `gc_interval`.
 */
export function gcraInterval(limit: number, windowMs: number): number {
  return Math.ceil(windowMs * 1000 / limit);
}

/**
 * Decides one request under GCRA, without consuming. Mirrors `gc_eval` in the Lua script.
 *
 * With `T = window / limit` and `τ = burst × T`, a request of cost `c` conforms when
 * `max(TAT, now) + c·T − now <= τ`; it then moves TAT by `c·T`. Every quantity is an integer
 * number of microseconds, so the decision is exact. `count` is the cells in use,
 * `ceil((TAT − now) / T)`, out of a capacity of `burst`.
 */
export function gcraEvaluate(
  state: GcraState | undefined,
  request: LimitRequest,
  nowMs: number,
): Decision {
  const now = toMicros(nowMs);
  const { limit, windowMs, cost } = request;
  const burst = request.burst ?? limit;
  const interval = gcraInterval(limit, windowMs);
  const tat = state === undefined ? now : Math.max(state.tat, now);
  const need = unitsNeeded(cost);
  const allowed = tat - now + need * interval <= burst * interval;
  const next = allowed && cost > 0 ? tat + cost * interval : tat;
  const used = Math.ceil((next - now) / interval);
  let retryAfterMs = 0;
  if (!allowed) {
    retryAfterMs = need > burst ? windowMs : ceilMs(tat + need * interval - burst * interval - now);
  }
  return {
    allowed,
    count: used,
    remaining: Math.max(0, burst - used),
    retryAfterMs,
    resetAfterMs: used > 0 ? ceilMs(next - (used - 1) * interval - now) : 0,
  };
}

/** Moves TAT by `request.cost` cells; call only after an allowing evaluation. */
export function gcraCommit(
  state: GcraState | undefined,
  request: LimitRequest,
  nowMs: number,
): GcraState {
  const now = toMicros(nowMs);
  const { limit, windowMs, cost } = request;
  const interval = gcraInterval(limit, windowMs);
  const tat = state === undefined ? now : Math.max(state.tat, now);
  return { limit, windowMs, burst: request.burst ?? limit, tat: tat + cost * interval };
}

/** Time (ms since epoch) at which TAT is reached, so the state may be dropped. */
export function gcraExpiresAt(state: GcraState): number {
  return state.tat / 1000;
}
