import { ceilMs, toMicros } from "./_time.ts";
import { type Decision, type LimitRequest, unitsNeeded } from "./types.ts";

/**
 * Cumulative unit counts are kept modulo this, like the Lua script's `SL_MOD`: the count of a
 * window (at most a limit, far below it) is the difference of two of them, exact whatever the
 * total a key ever committed.
 */
export const SLIDING_LOG_MOD = 1e15;

/** Most expired entries one commit removes, like the Lua script's `SL_PRUNE`. */
export const SLIDING_LOG_PRUNE = 128;

/**
 * State of one key under the exact sliding log: one entry per committed request, whatever its
 * cost, oldest first, in parallel arrays (the TypeScript twin of the script's sorted set).
 *
 * Entry `i` (for `head <= i < times.length`) was committed at `times[i]` (us, never decreasing),
 * carries `costs[i]` units, and `cums[i]` is the units committed up to and including it, modulo
 * {@linkcode SLIDING_LOG_MOD}. Entries before `head` are pruned and dropped lazily, so a prune is
 * O(1) amortised.
 */
export interface SlidingLogState {
  times: number[];
  cums: number[];
  costs: number[];
  head: number;
  limit: number;
  windowMs: number;
}

/** Number of stored entries (requests, not units) in `state`, expired ones not yet pruned included. */
export function slidingLogSize(state: SlidingLogState): number {
  return state.times.length - state.head;
}

function mod(n: number): number {
  return ((n % SLIDING_LOG_MOD) + SLIDING_LOG_MOD) % SLIDING_LOG_MOD;
}

/** Index of the first stored entry scored above `cutoff` (us), or `times.length` if none. */
function firstAfter(state: SlidingLogState, cutoff: number): number {
  let lo = state.head;
  let hi = state.times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (state.times[mid]! > cutoff) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Decides one request under the exact sliding log, without consuming and without changing
 * `state` (so a peek changes nothing). A unit counted at time `t` stays counted while
 * `now - t < windowMs`. O(log N) in the stored entries, O(log² N) when denied. Mirrors `sl_eval`
 * in the Lua script.
 */
export function slidingLogEvaluate(
  state: SlidingLogState | undefined,
  request: LimitRequest,
  nowMs: number,
): Decision {
  const { limit, windowMs, cost } = request;
  const now = toMicros(nowMs);
  const window = windowMs * 1000;
  let count = 0;
  let base = 0;
  let oldest = 0;
  let first = 0;
  if (state !== undefined) {
    first = firstAfter(state, now - window);
    const last = state.times.length - 1;
    if (first <= last) {
      base = state.cums[first]! - state.costs[first]!;
      oldest = state.times[first]!;
      count = mod(state.cums[last]! - base);
    }
  }
  const need = unitsNeeded(cost);
  const allowed = count + need <= limit;
  const consumed = allowed && cost > 0;
  const after = consumed ? count + cost : count;
  let retryAfterMs = 0;
  if (!allowed) {
    if (need > limit || count === 0) {
      retryAfterMs = windowMs;
    } else {
      // The entry holding the (count + need - limit)-th live unit: a binary search.
      const must = count + need - limit;
      let lo = first;
      let hi = state!.times.length - 1;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        if (mod(state!.cums[mid]! - base) >= must) hi = mid;
        else lo = mid + 1;
      }
      retryAfterMs = ceilMs(state!.times[lo]! + window - now);
    }
  }
  let resetAfterMs = 0;
  if (count > 0) {
    resetAfterMs = ceilMs(oldest + window - now);
  } else if (consumed) {
    resetAfterMs = windowMs;
  }
  return {
    allowed,
    count: after,
    remaining: Math.max(0, limit - after),
    retryAfterMs,
    resetAfterMs,
  };
}

/**
 * Records one entry of `request.cost` units at `nowMs`; call only after an allowing evaluation.
 * Removes at most {@linkcode SLIDING_LOG_PRUNE} expired entries, so one call never does work in
 * proportion to the cost, the limit or a backlog. Mirrors `sl_commit` in the Lua script.
 */
export function slidingLogCommit(
  state: SlidingLogState | undefined,
  request: LimitRequest,
  nowMs: number,
): SlidingLogState {
  const next = state ??
    { times: [], cums: [], costs: [], head: 0, limit: request.limit, windowMs: request.windowMs };
  const now = toMicros(nowMs);
  const window = request.windowMs * 1000;
  const expired = firstAfter(next, now - window) - next.head;
  if (expired > 0) next.head += Math.min(expired, SLIDING_LOG_PRUNE);
  compact(next);
  let at = now;
  const last = next.times.length - 1;
  let cum = 0;
  if (last >= next.head) {
    cum = next.cums[last]!;
    if (next.times[last]! > at) at = next.times[last]!;
  }
  cum += request.cost;
  if (cum >= SLIDING_LOG_MOD) {
    cum -= SLIDING_LOG_MOD;
    // Mirrors the script, where a wrapped member would sort before entries tied with it.
    if (last >= next.head && next.times[last] === at) at += 1;
  }
  next.times.push(at);
  next.cums.push(cum);
  next.costs.push(request.cost);
  next.limit = request.limit;
  next.windowMs = request.windowMs;
  return next;
}

/** Drops pruned entries once they are most of the arrays (amortised O(1) per prune). */
function compact(state: SlidingLogState): void {
  const { head } = state;
  if (head === state.times.length) {
    state.times.length =
      state.cums.length =
      state.costs.length =
      state.head =
        0;
  } else if (head > 1024 && head * 2 > state.times.length) {
    state.times.splice(0, head);
    state.cums.splice(0, head);
    state.costs.splice(0, head);
    state.head = 0;
  }
}

/** Time (ms since epoch) after which `state` holds nothing and may be dropped. */
export function slidingLogExpiresAt(state: SlidingLogState): number {
  const newest = state.times[state.times.length - 1];
  return newest === undefined ? 0 : newest / 1000 + state.windowMs;
}
