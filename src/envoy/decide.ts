/**
 * The one place the limits of one Envoy request reach the store: {@linkcode decideLimits}.
 *
 * The limits Envoy enforces (consuming, not in shadow mode) are decided together in one atomic
 * group: a request over one of them consumes nothing from the others. A shadow-mode limit and a
 * limit checked without consuming (`hits_addend` 0) are decided on their own, so a would-be denial
 * in shadow mode or a full counter merely looked at never blocks the enforced ones. Everything
 * goes to the store in ONE call: `store.check(group)` when there is only the enforced group, else
 * `store.checkMany(groups)` (one round trip, each group atomic on its own).
 *
 * Seam for Redis Cluster: where the enforced limits' keys live on different slots, this function
 * is where the group is split per slot (atomic per slot, not across).
 *
 * @module
 */
import type { Decision, LimitRequest } from "../limiter/types.ts";
import type { Store } from "../store/types.ts";

/** One limit of a request, ready for the store. */
export interface PlannedLimit {
  /** The limit as the store takes it. */
  request: LimitRequest;
  /** Whether it is decided with the request's other enforced limits (all or nothing). */
  together: boolean;
}

/** The decisions of {@linkcode decideLimits}, in the order of its input. */
export interface DecidedLimits {
  /** One decision per planned limit, in order. */
  decisions: Decision[];
  /** Whether the enforced group (if any) was allowed as a whole. */
  allowed: boolean;
  /** Set when the failure mode answered instead of the store. */
  degraded: "open" | "local" | undefined;
}

/**
 * Decides `limits` in one store call (see the module documentation). Two enforced limits on the
 * same counter (same key and algorithm) are merged into one request costing their sum, so a
 * request naming one descriptor twice consumes twice, atomically, and both get the same decision.
 */
export async function decideLimits(store: Store, limits: PlannedLimit[]): Promise<DecidedLimits> {
  const groups: LimitRequest[][] = [];
  /** For each input limit: its group and index in the group. */
  const where: [number, number][] = new Array(limits.length);
  let together: LimitRequest[] | undefined;
  const merged = new Map<string, number>();
  for (let i = 0; i < limits.length; i++) {
    const { request } = limits[i]!;
    if (!limits[i]!.together) {
      where[i] = [groups.length, 0];
      groups.push([request]);
      continue;
    }
    if (together === undefined) {
      together = [];
      groups.unshift(together);
      // The enforced group is group 0: shift what was placed before it.
      for (let j = 0; j < i; j++) where[j]![0]++;
    }
    const id = `${request.algorithm}\0${request.key}`;
    const seen = merged.get(id);
    if (seen !== undefined) {
      const first = together[seen]!;
      together[seen] = { ...first, cost: first.cost + request.cost };
      where[i] = [0, seen];
      continue;
    }
    merged.set(id, together.length);
    where[i] = [0, together.length];
    together.push(request);
  }
  if (groups.length === 0) return { decisions: [], allowed: true, degraded: undefined };
  const outcomes = groups.length === 1
    ? [await store.check(groups[0]!)]
    : await store.checkMany(groups);
  let degraded: "open" | "local" | undefined;
  for (const outcome of outcomes) degraded ??= outcome.degraded;
  return {
    decisions: where.map(([g, k]) => outcomes[g]!.decisions[k]!),
    allowed: together === undefined ? true : outcomes[0]!.allowed,
    degraded,
  };
}
