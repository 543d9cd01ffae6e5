import { type Decision, type LimitRequest, unitsNeeded } from "./types.ts";

/**
 * State of one key under the exact sliding log: the times (ms) of every counted unit, oldest first.
 *
 * `head` is the index of the oldest live entry; pruned entries before it are dropped lazily so a
 * prune is O(1) amortised instead of a shift per request.
 */
export interface SlidingLogState {
  entries: number[];
  head: number;
  limit: number;
  windowMs: number;
}

/** Number of live entries in `state`. */
export function slidingLogSize(state: SlidingLogState): number {
  return state.entries.length - state.head;
}

function prune(state: SlidingLogState, nowMs: number, windowMs: number): void {
  const cutoff = nowMs - windowMs;
  const { entries } = state;
  let head = state.head;
  while (head < entries.length && entries[head]! <= cutoff) head++;
  if (head > 1024 && head * 2 > entries.length) {
    entries.splice(0, head);
    head = 0;
  }
  state.head = head;
}

/**
 * Decides one request under the exact sliding log, without consuming.
 *
 * A unit counted at time `t` stays counted while `now - t < windowMs`. Prunes expired entries of
 * `state` in place (which changes no decision). Mirrors `slEval` in the Lua script.
 */
export function slidingLogEvaluate(
  state: SlidingLogState | undefined,
  request: LimitRequest,
  nowMs: number,
): Decision {
  const { limit, windowMs, cost } = request;
  if (state !== undefined) prune(state, nowMs, windowMs);
  const count = state === undefined ? 0 : slidingLogSize(state);
  const need = unitsNeeded(cost);
  const allowed = count + need <= limit;
  const consumed = allowed && cost > 0;
  const after = consumed ? count + cost : count;
  let retryAfterMs = 0;
  if (!allowed) {
    const mustExpire = count + need - limit;
    if (need > limit || state === undefined) {
      retryAfterMs = windowMs;
    } else {
      const at = state.entries[state.head + mustExpire - 1]!;
      retryAfterMs = Math.max(0, Math.ceil(at + windowMs - nowMs));
    }
  }
  let resetAfterMs = 0;
  if (count > 0) {
    resetAfterMs = Math.max(0, Math.ceil(state!.entries[state!.head]! + windowMs - nowMs));
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

/** Records `request.cost` units at `nowMs`; call only after an allowing evaluation. */
export function slidingLogCommit(
  state: SlidingLogState | undefined,
  request: LimitRequest,
  nowMs: number,
): SlidingLogState {
  const next = state ?? { entries: [], head: 0, limit: request.limit, windowMs: request.windowMs };
  next.limit = request.limit;
  next.windowMs = request.windowMs;
  for (let i = 0; i < request.cost; i++) next.entries.push(nowMs);
  return next;
}

/** Time (ms since epoch) after which `state` holds nothing and may be dropped. */
export function slidingLogExpiresAt(state: SlidingLogState): number {
  const newest = state.entries[state.entries.length - 1];
  return newest === undefined ? 0 : newest + state.windowMs;
}
