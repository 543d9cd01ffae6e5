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
 * On Redis Cluster the enforced limits are split by slot tag ({@linkcode AtomicScope}): atomic per
 * slot, not across, since one script may only touch the keys of one slot.
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
 * Which limits may be decided together in one atomic store call: limits whose keys share a scope.
 * {@linkcode SINGLE_SCOPE} on one Redis or the embedded store; on Redis Cluster the key's slot tag
 * (`slotTag`), since one script may only touch the keys of one slot.
 */
export type AtomicScope = (key: string) => string;

/** The {@linkcode AtomicScope} of one Redis or the embedded store: every key in one scope. */
export const SINGLE_SCOPE: AtomicScope = () => "";

/**
 * Decides `limits` in one store call (see the module documentation). Two enforced limits on the
 * same counter (same key and algorithm) are merged into one request costing their sum, so a
 * request naming one descriptor twice consumes twice, atomically, and both get the same decision.
 * Enforced limits of different `scopeOf` scopes go in separate groups (atomic each, not across);
 * the enforced groups come first in the call, so their decisions precede the others'.
 */
export async function decideLimits(
  store: Store,
  limits: PlannedLimit[],
  scopeOf: AtomicScope = SINGLE_SCOPE,
): Promise<DecidedLimits> {
  const enforced: LimitRequest[][] = [];
  const others: LimitRequest[][] = [];
  /** For each input limit: enforced or not, its group and its index in the group. */
  const where: [boolean, number, number][] = new Array(limits.length);
  const groupOfScope = new Map<string, number>();
  const merged = new Map<string, [boolean, number, number]>();
  for (let i = 0; i < limits.length; i++) {
    const { request, together } = limits[i]!;
    if (!together) {
      where[i] = [false, others.length, 0];
      others.push([request]);
      continue;
    }
    const id = `${request.algorithm}\0${request.key}`;
    const seen = merged.get(id);
    if (seen !== undefined) {
      const group = enforced[seen[1]]!;
      const first = group[seen[2]]!;
      group[seen[2]] = { ...first, cost: first.cost + request.cost };
      where[i] = seen;
      continue;
    }
    const scope = scopeOf(request.key);
    let g = groupOfScope.get(scope);
    if (g === undefined) {
      g = enforced.length;
      groupOfScope.set(scope, g);
      enforced.push([]);
    }
    where[i] = [true, g, enforced[g]!.length];
    merged.set(id, where[i]!);
    enforced[g]!.push(request);
  }
  const groups = enforced.concat(others);
  if (groups.length === 0) return { decisions: [], allowed: true, degraded: undefined };
  const outcomes = groups.length === 1
    ? [await store.check(groups[0]!)]
    : await store.checkMany(groups);
  let degraded: "open" | "local" | undefined;
  for (const outcome of outcomes) degraded ??= outcome.degraded;
  let allowed = true;
  for (let g = 0; g < enforced.length; g++) allowed &&= outcomes[g]!.allowed;
  return {
    decisions: where.map(([isEnforced, g, k]) =>
      outcomes[isEnforced ? g : enforced.length + g]!.decisions[k]!
    ),
    allowed,
    degraded,
  };
}
