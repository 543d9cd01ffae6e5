import { ceilMs, toMicros } from "./_time.ts";
import { type Decision, type LimitRequest, unitsNeeded } from "./types.ts";

/**
 * State of one key under the token bucket. The level is kept in ticks, `tokens × window µs`, so
 * that a refill of `refillRate` tokens per window adds exactly `refillRate` ticks per microsecond:
 * every quantity is an integer and the arithmetic is exact while `limit × window_µs < 2^53`.
 */
export interface TokenBucketState {
  limit: number;
  windowMs: number;
  refillRate: number;
  /** Tokens × window µs in the bucket at `updated`. */
  level: number;
  /** When `level` was computed, µs since the epoch. */
  updated: number;
}

/** Level (ticks) of the bucket at `now` under `request`'s parameters; a missing key is full. */
function levelAt(
  state: TokenBucketState | undefined,
  request: LimitRequest,
  rate: number,
  now: number,
): number {
  const window = request.windowMs * 1000;
  const full = request.limit * window;
  if (state === undefined) return full;
  let level = state.level;
  // Ticks are per window µs: a new window length rescales them (rounding down, never up).
  if (state.windowMs !== request.windowMs) {
    level = Math.floor(level * window / (state.windowMs * 1000));
  }
  return Math.min(full, level + Math.max(0, now - state.updated) * rate);
}

/**
 * Decides one request under the token bucket, without consuming. Mirrors `tb_eval` in the Lua
 * script.
 *
 * Capacity is `limit` tokens; `refillRate` tokens (default `limit`) flow back per `windowMs`,
 * continuously. A request needs `cost` whole tokens. `count` is the capacity minus the whole
 * tokens available.
 */
export function tokenBucketEvaluate(
  state: TokenBucketState | undefined,
  request: LimitRequest,
  nowMs: number,
): Decision {
  const now = toMicros(nowMs);
  const { limit, windowMs, cost } = request;
  const rate = request.refillRate ?? limit;
  const window = windowMs * 1000;
  const full = limit * window;
  const level = levelAt(state, request, rate, now);
  const need = unitsNeeded(cost);
  const allowed = need * window <= level;
  const after = allowed && cost > 0 ? level - cost * window : level;
  const remaining = Math.min(limit, Math.floor(after / window));
  let retryAfterMs = 0;
  if (!allowed) {
    retryAfterMs = need > limit ? windowMs : ceilMs(Math.ceil((need * window - level) / rate));
  }
  const resetAfterMs = after < full
    ? ceilMs(Math.ceil(((remaining + 1) * window - after) / rate))
    : 0;
  return { allowed, count: limit - remaining, remaining, retryAfterMs, resetAfterMs };
}

/** Takes `request.cost` tokens; call only after an allowing evaluation. */
export function tokenBucketCommit(
  state: TokenBucketState | undefined,
  request: LimitRequest,
  nowMs: number,
): TokenBucketState {
  const now = toMicros(nowMs);
  const { limit, windowMs, cost } = request;
  const rate = request.refillRate ?? limit;
  const level = levelAt(state, request, rate, now) - cost * (windowMs * 1000);
  return { limit, windowMs, refillRate: rate, level, updated: now };
}

/** Time (ms since epoch) at which the bucket is full again, so the state may be dropped. */
export function tokenBucketExpiresAt(state: TokenBucketState): number {
  const full = state.limit * state.windowMs * 1000;
  return (state.updated + Math.ceil((full - state.level) / state.refillRate)) / 1000;
}
