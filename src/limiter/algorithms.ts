import type { Algorithm, Decision, LimitRequest } from "./types.ts";
import {
  slidingLogCommit,
  slidingLogEvaluate,
  slidingLogExpiresAt,
  slidingLogSize,
  type SlidingLogState,
} from "./sliding_log.ts";

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
  /** The limit and window the state was last consumed under. */
  params(state: S): { limit: number; windowMs: number };
}

const slidingLog: AlgorithmImpl<SlidingLogState> = {
  evaluate: slidingLogEvaluate,
  commit: slidingLogCommit,
  expiresAt: slidingLogExpiresAt,
  weight: (state) => 1 + slidingLogSize(state),
  params: (state) => ({ limit: state.limit, windowMs: state.windowMs }),
};

/** Every algorithm's TypeScript implementation, by name. */
// deno-lint-ignore no-explicit-any
export const ALGORITHM_IMPLS: Record<Algorithm, AlgorithmImpl<any>> = {
  sliding_log: slidingLog,
};
