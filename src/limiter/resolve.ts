import type { Algorithm, LimitRequest } from "./types.ts";

/** An operator's per-key limit, stored in the shared store; it beats the client's values. */
export interface Override {
  limit: number;
  windowMs: number;
  /** Algorithm the key must use; the default when unset. */
  algorithm?: Algorithm | undefined;
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
}

/**
 * The effective limit of one request: a key's override decides (an operator's decision beats a
 * client's), else the request's values, else the defaults.
 */
export function resolveLimit(
  input: LimitInput,
  defaults: LimitDefaults,
  overrides: OverrideLookup,
): LimitRequest {
  const override = overrides.get(input.key);
  if (override !== undefined) {
    return {
      key: input.key,
      algorithm: override.algorithm ?? input.algorithm ?? defaults.algorithm,
      limit: override.limit,
      windowMs: override.windowMs,
      cost: input.cost ?? 1,
    };
  }
  return {
    key: input.key,
    algorithm: input.algorithm ?? defaults.algorithm,
    limit: input.limit ?? defaults.limit,
    windowMs: input.windowMs ?? defaults.windowMs,
    cost: input.cost ?? 1,
  };
}
