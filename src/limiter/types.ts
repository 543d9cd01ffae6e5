/** Names of the rate-limit algorithms the service implements. */
export const ALGORITHMS = [
  "sliding_log",
  "sliding_window",
  "fixed_window",
  "token_bucket",
  "gcra",
] as const;
/** One of {@linkcode ALGORITHMS}. */
export type Algorithm = typeof ALGORITHMS[number];

/** Short code of each algorithm, used in Redis key names and script arguments. */
export const ALGORITHM_CODES: Record<Algorithm, string> = {
  sliding_log: "sl",
  sliding_window: "sw",
  fixed_window: "fw",
  token_bucket: "tb",
  gcra: "gc",
};

/** One limit to check: a key, its algorithm and parameters, and what the request costs. */
export interface LimitRequest {
  /** The rate-limit key chosen by the client (1 to 512 bytes of UTF-8). */
  key: string;
  algorithm: Algorithm;
  /** Requests (units of cost) allowed per window. */
  limit: number;
  /** Window length in milliseconds. */
  windowMs: number;
  /** Units this request consumes; 0 only reports the state (a peek). */
  cost: number;
  /** `gcra` only: cells that may be sent at once (the bucket's capacity). @default {limit} */
  burst?: number;
  /** `token_bucket` only: tokens added per `windowMs`, continuously. @default {limit} */
  refillRate?: number;
}

/**
 * The algorithm-specific parameter of a request: `burst` for `gcra`, `refillRate` for
 * `token_bucket` (each defaulting to `limit`), 0 for the others. It is the fifth per-limit
 * argument of the check script.
 */
export function algorithmParam(request: LimitRequest): number {
  if (request.algorithm === "gcra") return request.burst ?? request.limit;
  if (request.algorithm === "token_bucket") return request.refillRate ?? request.limit;
  return 0;
}

/** The answer for one limit. A decision is data, never an exception. */
export interface Decision {
  /** Whether the request fits (for a peek: whether a request of cost 1 would fit now). */
  allowed: boolean;
  /** Units counted in the current window after this request. */
  count: number;
  /** Units still available in the current window after this request, never negative. */
  remaining: number;
  /** Milliseconds until this request would fit; 0 when allowed. */
  retryAfterMs: number;
  /** Milliseconds until the next unit frees up (the oldest counted unit expires); 0 if none. */
  resetAfterMs: number;
}

/** The answer for a set of limits checked together: all consume, or none. */
export interface CheckOutcome {
  /** True only when every limit allowed. */
  allowed: boolean;
  /** One decision per limit, in request order. */
  decisions: Decision[];
  /** Index of the first limit that denied, or -1. */
  deniedIndex: number;
  /**
   * Set when the store could not be asked and the outcome comes from the failure mode instead:
   * `open` (allowed without counting) or `local` (decided by an in-process limiter).
   */
  degraded?: "open" | "local";
}

/** Combines per-limit decisions into an all-or-nothing outcome. */
export function combineDecisions(decisions: Decision[]): CheckOutcome {
  const deniedIndex = decisions.findIndex((d) => !d.allowed);
  return { allowed: deniedIndex === -1, decisions, deniedIndex };
}

/** Units a request must fit: its cost, or 1 for a peek (cost 0 asks "would one more fit?"). */
export function unitsNeeded(cost: number): number {
  return cost === 0 ? 1 : cost;
}
