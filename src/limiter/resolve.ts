import type { Algorithm, LimitRequest } from "./types.ts";

/** An operator's per-key limit, stored in the shared store; it beats the client's values. */
export interface Override {
  limit: number;
  windowMs: number;
  /** Algorithm the key must use; the configured default when unset. */
  algorithm?: Algorithm | undefined;
  /** `gcra` only: the burst; `limit` when unset. */
  burst?: number | undefined;
  /** `token_bucket` only: tokens refilled per window; `limit` when unset. */
  refillRate?: number | undefined;
}

/** Where per-key overrides are looked up on the hot path; must answer synchronously. */
export interface OverrideLookup {
  get(key: string): Override | undefined;
}

/** An {@linkcode OverrideLookup} with no overrides. */
export const noOverrides: OverrideLookup = { get: () => undefined };

/** Limit, window and algorithm used when neither an override nor the request names them. */
export interface LimitDefaults {
  limit: number;
  windowMs: number;
  algorithm: Algorithm;
}

/** A limit as a client asked for it, before defaults and overrides. */
export interface LimitInput {
  key: string;
  limit?: number | undefined;
  windowMs?: number | undefined;
  algorithm?: Algorithm | undefined;
  cost?: number | undefined;
  burst?: number | undefined;
  refillRate?: number | undefined;
}

/**
 * The effective limit of one request: a key's override decides (an operator's decision beats a
 * client's), else the request's values, else the defaults.
 *
 * Under an override the client chooses nothing but the cost: not the algorithm (each algorithm
 * keeps its own counter, so switching between them would multiply the operator's limit), nor the
 * burst or refill rate. `burst` is kept only for `gcra` and `refillRate` only for `token_bucket`.
 */
export function resolveLimit(
  input: LimitInput,
  defaults: LimitDefaults,
  overrides: OverrideLookup,
): LimitRequest {
  const override = overrides.get(input.key);
  const source = override === undefined ? input : override;
  const request: LimitRequest = {
    key: input.key,
    algorithm: source.algorithm ?? defaults.algorithm,
    limit: source.limit ?? defaults.limit,
    windowMs: source.windowMs ?? defaults.windowMs,
    cost: input.cost ?? 1,
  };
  if (request.algorithm === "gcra" && source.burst !== undefined) request.burst = source.burst;
  if (request.algorithm === "token_bucket" && source.refillRate !== undefined) {
    request.refillRate = source.refillRate;
  }
  return request;
}
