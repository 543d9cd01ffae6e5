import {
  findPolicyViolation,
  type LimitsPolicy,
  type PolicyViolation,
  type RequestedValues,
} from "./limits_policy.ts";
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
  return resolve(input, defaults, overrides.get(input.key));
}

/** A resolved limit and the first value the client asked for above the limits policy. */
export interface ResolvedLimit {
  request: LimitRequest;
  /** Set when the request must be refused (400) without deciding anything. */
  violation: PolicyViolation | undefined;
}

/**
 * Resolves one request as {@linkcode resolveLimit} does, then checks the values the client chose
 * against `policy`, under the algorithm that will decide. Under an override only the cost is the
 * client's; without one, the limit, window, burst and refill rate the request names are too.
 * Values left to the defaults are the operator's, so the policy does not apply to them.
 */
export function resolveLimitWithin(
  input: LimitInput,
  defaults: LimitDefaults,
  overrides: OverrideLookup,
  policy: LimitsPolicy,
): ResolvedLimit {
  const override = overrides.get(input.key);
  const request = resolve(input, defaults, override);
  const requested: RequestedValues = override === undefined
    ? {
      limit: input.limit,
      windowMs: input.windowMs,
      cost: input.cost,
      burst: request.burst,
      refillRate: request.refillRate,
    }
    : { cost: input.cost };
  return { request, violation: findPolicyViolation(requested, request.algorithm, policy) };
}

function resolve(
  input: LimitInput,
  defaults: LimitDefaults,
  override: Override | undefined,
): LimitRequest {
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
