/**
 * The limits policy: the largest `limit`, `window_ms` and `cost` a client may ask for, per
 * algorithm, set by the operator below the hard bounds every request already obeys
 * (`bounds.ts`).
 *
 * @module
 */
import { DAY_MS, MAX_LIMIT, MAX_WINDOW_MS } from "./bounds.ts";
import { type Algorithm, ALGORITHMS } from "./types.ts";

/** The largest values a client may ask for under one algorithm. */
export interface PolicyMaxima {
  /** Largest `limit`; also bounds `burst` (gcra) and `refill_rate` (token_bucket). */
  readonly limit: number;
  /** Longest `window_ms`, in milliseconds. */
  readonly windowMs: number;
  /** Largest `cost`. */
  readonly cost: number;
}

/**
 * The operator's limits policy: the maxima of each algorithm. It bounds only what a client asks
 * for; an override (the operator's own decision) and the configured defaults may exceed it.
 */
export type LimitsPolicy = Readonly<Record<Algorithm, PolicyMaxima>>;

/**
 * The policy when none is configured. A sliding log keeps one entry per counted request, so its
 * memory and the work of one check grow with `limit` and `cost`: at most 10,000 over at most a
 * day. The other algorithms keep O(1) state per key whatever the limit: the hard bounds, except
 * their window is also at most 30 days.
 */
export const DEFAULT_LIMITS_POLICY: LimitsPolicy = {
  sliding_log: { limit: 10_000, windowMs: DAY_MS, cost: 10_000 },
  sliding_window: { limit: MAX_LIMIT, windowMs: MAX_WINDOW_MS, cost: MAX_LIMIT },
  fixed_window: { limit: MAX_LIMIT, windowMs: MAX_WINDOW_MS, cost: MAX_LIMIT },
  token_bucket: { limit: MAX_LIMIT, windowMs: MAX_WINDOW_MS, cost: MAX_LIMIT },
  gcra: { limit: MAX_LIMIT, windowMs: MAX_WINDOW_MS, cost: MAX_LIMIT },
};

/** A policy that adds nothing to the hard bounds (every algorithm at `MAX_LIMIT`, 30 days). */
export const UNBOUNDED_LIMITS_POLICY: LimitsPolicy = Object.fromEntries(
  ALGORITHMS.map((a) => [a, { limit: MAX_LIMIT, windowMs: MAX_WINDOW_MS, cost: MAX_LIMIT }]),
) as Record<Algorithm, PolicyMaxima>;

/** A request field the limits policy bounds, as clients spell it. */
export type PolicyField = "limit" | "window_ms" | "cost" | "burst" | "refill_rate";

/** One value a client asked for above the limits policy. */
export interface PolicyViolation {
  field: PolicyField;
  value: number;
  algorithm: Algorithm;
  /** The policy's maximum for this field and algorithm. */
  max: number;
}

/** The values of a check that the client chose (not an override's nor a default). */
export interface RequestedValues {
  limit?: number | undefined;
  windowMs?: number | undefined;
  cost?: number | undefined;
  burst?: number | undefined;
  refillRate?: number | undefined;
}

/**
 * The first value of `requested` above `policy` for `algorithm` (checked in the order limit,
 * window_ms, burst, refill_rate, cost), or undefined when every one is allowed.
 */
export function findPolicyViolation(
  requested: RequestedValues,
  algorithm: Algorithm,
  policy: LimitsPolicy,
): PolicyViolation | undefined {
  // Plain comparisons, no allocation unless violated: this runs on every check.
  const max = policy[algorithm];
  const { limit, windowMs, burst, refillRate, cost } = requested;
  if (limit !== undefined && limit > max.limit) {
    return { field: "limit", value: limit, algorithm, max: max.limit };
  }
  if (windowMs !== undefined && windowMs > max.windowMs) {
    return { field: "window_ms", value: windowMs, algorithm, max: max.windowMs };
  }
  if (burst !== undefined && burst > max.limit) {
    return { field: "burst", value: burst, algorithm, max: max.limit };
  }
  if (refillRate !== undefined && refillRate > max.limit) {
    return { field: "refill_rate", value: refillRate, algorithm, max: max.limit };
  }
  if (cost !== undefined && cost > max.cost) {
    return { field: "cost", value: cost, algorithm, max: max.cost };
  }
  return undefined;
}
