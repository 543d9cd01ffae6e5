import type { Algorithm, Decision, LimitRequest } from "./types.ts";
import {
  slidingLogCommit,
  slidingLogEvaluate,
  slidingLogExpiresAt,
  slidingLogSize,
  type SlidingLogState,
} from "./sliding_log.ts";
import {
  slidingWindowCommit,
  slidingWindowEvaluate,
  slidingWindowExpiresAt,
  type SlidingWindowState,
} from "./sliding_window.ts";
import {
  fixedWindowCommit,
  fixedWindowEvaluate,
  fixedWindowExpiresAt,
  type FixedWindowState,
} from "./fixed_window.ts";
import {
  tokenBucketCommit,
  tokenBucketEvaluate,
  tokenBucketExpiresAt,
  type TokenBucketState,
} from "./token_bucket.ts";
import { gcraCommit, gcraEvaluate, gcraExpiresAt, type GcraState } from "./gcra.ts";

/** The parameters a state was last consumed under, enough to peek at it again. */
export type StoredParams = Pick<LimitRequest, "limit" | "windowMs" | "burst" | "refillRate">;

/**
 * The TypeScript side of one algorithm, used by the embedded store. Each mirrors the function of
 * the same algorithm in the Lua script, and the shared case table keeps the two in step.
 */
export interface AlgorithmImpl<S> {
  /** Decides a request without consuming; may tidy `state` in place without changing meaning. */
  evaluate(state: S | undefined, request: LimitRequest, nowMs: number): Decision;
  /** Consumes `request.cost`; called only when every limit of the check allowed. */
  commit(state: S | undefined, request: LimitRequest, nowMs: number): S;
  /** Time (ms since epoch) after which the state is empty and may be dropped. */
  expiresAt(state: S): number;
  /** Rough number of stored units, for memory accounting. */
  weight(state: S): number;
  /** The parameters the state was last consumed under. */
  params(state: S): StoredParams;
}

const slidingLog: AlgorithmImpl<SlidingLogState> = {
  evaluate: slidingLogEvaluate,
  commit: slidingLogCommit,
  expiresAt: slidingLogExpiresAt,
  // One per stored entry: a committed request, whatever its cost.
  weight: (state) => 1 + slidingLogSize(state),
  params: (state) => ({ limit: state.limit, windowMs: state.windowMs }),
};

const slidingWindow: AlgorithmImpl<SlidingWindowState> = {
  evaluate: slidingWindowEvaluate,
  commit: slidingWindowCommit,
  expiresAt: slidingWindowExpiresAt,
  weight: () => 1,
  params: (state) => ({ limit: state.limit, windowMs: state.windowMs }),
};

const fixedWindow: AlgorithmImpl<FixedWindowState> = {
  evaluate: fixedWindowEvaluate,
  commit: fixedWindowCommit,
  expiresAt: fixedWindowExpiresAt,
  weight: () => 1,
  params: (state) => ({ limit: state.limit, windowMs: state.windowMs }),
};

const tokenBucket: AlgorithmImpl<TokenBucketState> = {
  evaluate: tokenBucketEvaluate,
  commit: tokenBucketCommit,
  expiresAt: tokenBucketExpiresAt,
  weight: () => 1,
  params: (state) => ({
    limit: state.limit,
    windowMs: state.windowMs,
    refillRate: state.refillRate,
  }),
};

const gcra: AlgorithmImpl<GcraState> = {
  evaluate: gcraEvaluate,
  commit: gcraCommit,
  expiresAt: gcraExpiresAt,
  weight: () => 1,
  params: (state) => ({ limit: state.limit, windowMs: state.windowMs, burst: state.burst }),
};

/** Every algorithm's TypeScript implementation, by name. */
// deno-lint-ignore no-explicit-any
export const ALGORITHM_IMPLS: Record<Algorithm, AlgorithmImpl<any>> = {
  sliding_log: slidingLog,
  sliding_window: slidingWindow,
  fixed_window: fixedWindow,
  token_bucket: tokenBucket,
  gcra,
};
