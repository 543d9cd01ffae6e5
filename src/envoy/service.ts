/**
 * `ShouldRateLimit`, transport-free: a decoded {@linkcode RlsRequest} in, a
 * {@linkcode RlsResponse} out, with the semantics of envoyproxy/ratelimit (its
 * `src/service/ratelimit.go`, `src/limiter/` and `src/config/config_impl.go`):
 *
 * - an empty domain or no descriptors is an {@linkcode RlsInvalidArgumentError};
 * - one status per descriptor, in request order; a descriptor of an unknown domain, or matching
 *   no rule, is OK with no limit; an `unlimited` rule is OK with no limit; a rule whose name another
 *   matched rule `replaces` is dropped (OK, no limit);
 * - a descriptor's own `limit` (requests per unit) replaces the rule's, in a known domain (a
 *   fixed window of that unit, never in shadow mode, as the reference does);
 * - the units consumed are the descriptor's `hits_addend` when set (0 checks without consuming),
 *   else the request's, else 1;
 * - shadow mode answers OK and counts what would have been denied;
 * - `overall_code` is OVER_LIMIT when any status is; `duration_until_reset` of a fixed window is
 *   the time to the end of its epoch-aligned window, in whole seconds as the reference computes
 *   it.
 *
 * Beyond the reference, the enforced limits of one request are decided atomically (see
 * `decide.ts`): an over-limit request consumes nothing, and no other descriptor's counter moves.
 * Per-key operator overrides (`PUT /api/limits/{key}`, on the key of `counter_key.ts`) beat the
 * rule, as they beat a `/check` client's values.
 *
 * @module
 */
import { type OverrideLookup, resolveLimit } from "../limiter/resolve.ts";
import type { Decision, LimitRequest } from "../limiter/types.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Store } from "../store/types.ts";
import type { RateLimitRule, RuleSet, RuleUnit } from "../rules/types.ts";
import { descriptorCounterKey } from "./counter_key.ts";
import { type AtomicScope, decideLimits, type PlannedLimit } from "./decide.ts";
import {
  RLS_CODE,
  RLS_UNITS,
  type RlsCode,
  type RlsDescriptor,
  type RlsDescriptorStatus,
  type RlsDuration,
  type RlsHeader,
  type RlsRateLimit,
  type RlsRequest,
  type RlsResponse,
  UINT32_MAX,
} from "./messages.ts";
import { draft10Headers, type PolicyState } from "./ratelimit_headers.ts";

/** A request the protocol refuses: gRPC `INVALID_ARGUMENT`, HTTP 400 on `/json`. */
export class RlsInvalidArgumentError extends Error {
  /** An error saying what is wrong with the request. */
  constructor(message: string) {
    super(message);
    this.name = "RlsInvalidArgumentError";
  }
}

/** Most distinct descriptor values the `detailed_metric` series carry, per node; then `_other`. */
export const MAX_DETAILED_SERIES = 1000;

/** Rule label of a descriptor's own `limit` (no rule of the file). */
export const REQUEST_LIMIT_RULE = "_request_limit";

/** Options for {@linkcode createRateLimitService}. */
export interface RateLimitServiceOptions {
  /** The node's store stack (the same as `/check`'s: block cache, failure mode, breaker). */
  store: Store;
  /** The rules in force now; `undefined` when no rules file is configured (every domain unknown). */
  rules: () => RuleSet | undefined;
  /** Per-key operator overrides. */
  overrides: OverrideLookup;
  /** Where decisions are counted. */
  metrics: Pick<Metrics, "rlsDecisions" | "rlsDetailedDecisions">;
  /** Whether to answer draft-10 `RateLimit` and `RateLimit-Policy` in `response_headers_to_add`. */
  rateLimitHeaders: boolean;
  /** Wall clock, ms since the epoch. @default {Date.now} */
  now?: () => number;
  /**
   * Which enforced limits of one request can be decided in one atomic store call (keys of one
   * scope): on Redis Cluster the key's slot tag.
   * @default {SINGLE_SCOPE} (one Redis or the embedded store: all of them)
   */
  atomicScope?: AtomicScope;
}

/** Decides one `RateLimitRequest`. */
export type ShouldRateLimit = (request: RlsRequest) => Promise<RlsResponse>;

const UNIT_BY_RULE_UNIT: Record<RuleUnit, number> = {
  second: 1,
  minute: 2,
  hour: 3,
  day: 4,
  month: 5,
  year: 6,
  week: 7,
};
const UNIT_SECONDS = [0, 1, 60, 3_600, 86_400, 2_592_000, 31_536_000, 604_800];

/** The protocol's unit for a window, or UNKNOWN (0) when it is not one unit long. */
function unitOfWindow(windowMs: number): number {
  const index = UNIT_SECONDS.indexOf(windowMs / 1000);
  return index > 0 ? index : 0;
}

type Plan =
  | { kind: "none" }
  | { kind: "unlimited"; rule: RateLimitRule }
  | {
    kind: "limit";
    rule: RateLimitRule | undefined;
    request: LimitRequest;
    shadow: boolean;
    name: string;
    /** Index in the planned limits. */
    slot: number;
  };

const NO_LIMIT: RlsDescriptorStatus = {
  code: RLS_CODE.OK,
  currentLimit: undefined,
  limitRemaining: 0,
  durationUntilReset: undefined,
};

function ruleLabel(rule: RateLimitRule | undefined): string {
  if (rule === undefined) return REQUEST_LIMIT_RULE;
  return rule.name ?? rule.path.join(".");
}

function unitsOf(descriptor: RlsDescriptor, request: RlsRequest): number {
  const hits = descriptor.hitsAddend ?? Math.max(1, request.hitsAddend);
  return Math.min(hits, UINT32_MAX);
}

function durationOf(ms: number): RlsDuration {
  const whole = Math.max(0, Math.ceil(ms));
  return { seconds: Math.floor(whole / 1000), nanos: (whole % 1000) * 1_000_000 };
}

/** Builds the `ShouldRateLimit` of a node. */
export function createRateLimitService(options: RateLimitServiceOptions): ShouldRateLimit {
  const { store, overrides, metrics } = options;
  const now = options.now ?? Date.now;
  const detailedSeen = new Set<string>();

  const detailLabel = (domain: string, rule: string, entries: RlsDescriptor["entries"]) => {
    const text = entries.map((e) => `${e.key}_${e.value}`).join(".");
    const id = `${domain}\0${rule}\0${text}`;
    if (detailedSeen.has(id)) return text;
    if (detailedSeen.size >= MAX_DETAILED_SERIES) return "_other";
    detailedSeen.add(id);
    return text;
  };

  const count = (
    domain: string,
    plan: Plan,
    result: "ok" | "over_limit" | "shadow",
    descriptor: RlsDescriptor,
  ) => {
    if (plan.kind === "none") return;
    const rule = ruleLabel(plan.rule);
    metrics.rlsDecisions.labels({ domain, rule, result }).inc();
    if (plan.rule?.detailedMetric) {
      metrics.rlsDetailedDecisions
        .labels({ domain, rule, descriptor: detailLabel(domain, rule, descriptor.entries), result })
        .inc();
    }
  };

  const plan = (request: RlsRequest, rules: RuleSet | undefined): [Plan[], PlannedLimit[]] => {
    const { domain } = request;
    const known = rules?.hasDomain(domain) ?? false;
    const matched = request.descriptors.map((d) =>
      known ? rules!.match(domain, d.entries) : undefined
    );
    let replaced: Set<string> | undefined;
    for (const rule of matched) {
      for (const name of rule?.replaces ?? []) (replaced ??= new Set()).add(name);
    }
    const limits: PlannedLimit[] = [];
    const plans = request.descriptors.map((descriptor, i): Plan => {
      if (!known) return { kind: "none" };
      const cost = unitsOf(descriptor, request);
      const override = descriptor.limit;
      let rule = matched[i];
      let input: Parameters<typeof resolveLimit>[0];
      const key = descriptorCounterKey(domain, descriptor.entries);
      if (override !== undefined) {
        const seconds = UNIT_SECONDS[override.unit];
        if (seconds === undefined || seconds === 0) {
          throw new RlsInvalidArgumentError(
            `descriptors[${i}].limit.unit must be one of ${RLS_UNITS.slice(1).join(", ")}, ` +
              `received ${override.unit}`,
          );
        }
        rule = undefined;
        input = {
          key,
          limit: override.requestsPerUnit,
          windowMs: seconds * 1000,
          algorithm: "fixed_window",
          cost,
        };
      } else {
        if (rule === undefined) return { kind: "none" };
        if (replaced?.has(rule.name ?? "\0")) return { kind: "none" };
        if (rule.unlimited) return { kind: "unlimited", rule };
        input = {
          key,
          limit: rule.limit,
          windowMs: rule.windowMs,
          algorithm: rule.algorithm,
          cost,
          burst: rule.burst,
          refillRate: rule.refillRate,
        };
      }
      // An operator's override of the key beats the rule; what it leaves unset (the algorithm) is
      // the rule's, the operator's own default for this key.
      const limitRequest = resolveLimit(input, {
        limit: input.limit!,
        windowMs: input.windowMs!,
        algorithm: input.algorithm!,
      }, overrides);
      const shadow = rule?.shadowMode ?? false;
      const slot = limits.length;
      limits.push({ request: limitRequest, together: !shadow && limitRequest.cost > 0 });
      return { kind: "limit", rule, request: limitRequest, shadow, name: ruleLabel(rule), slot };
    });
    return [plans, limits];
  };

  const resetOf = (request: LimitRequest, decision: Decision, at: number): RlsDuration => {
    if (request.algorithm === "fixed_window") {
      if (request.windowMs % 1000 === 0) {
        const window = request.windowMs / 1000;
        return { seconds: window - (Math.floor(at / 1000) % window), nanos: 0 };
      }
      return durationOf(request.windowMs - (at % request.windowMs));
    }
    return durationOf(Math.max(decision.resetAfterMs, decision.retryAfterMs));
  };

  return async (request) => {
    if (request.domain === "") {
      throw new RlsInvalidArgumentError("rate limit domain must not be empty");
    }
    if (request.descriptors.length === 0) {
      throw new RlsInvalidArgumentError("rate limit descriptor list must not be empty");
    }
    const [plans, limits] = plan(request, options.rules());
    const decided = await decideLimits(store, limits, options.atomicScope);
    const at = now();
    let overall: RlsCode = RLS_CODE.OK;
    const policies: PolicyState[] = [];
    const statuses = plans.map((p, i): RlsDescriptorStatus => {
      const descriptor = request.descriptors[i]!;
      if (p.kind === "none") return NO_LIMIT;
      if (p.kind === "unlimited") {
        count(request.domain, p, "ok", descriptor);
        return NO_LIMIT;
      }
      const decision = decided.decisions[p.slot]!;
      const { request: limit } = p;
      const currentLimit: RlsRateLimit = {
        name: p.rule?.name ?? "",
        requestsPerUnit: Math.min(limit.limit, UINT32_MAX),
        unit: p.rule?.unit !== undefined && limit.windowMs === p.rule.windowMs
          ? UNIT_BY_RULE_UNIT[p.rule.unit]
          : unitOfWindow(limit.windowMs),
      };
      // A look without consuming is over the limit only if the counter already is (as the
      // reference, which compares the count after adding 0 hits with the limit).
      const over = limit.cost === 0 ? decision.count > limit.limit : !decision.allowed;
      let code: RlsCode = over ? RLS_CODE.OVER_LIMIT : RLS_CODE.OK;
      if (p.shadow && over) {
        code = RLS_CODE.OK;
        count(request.domain, p, "shadow", descriptor);
      } else count(request.domain, p, over ? "over_limit" : "ok", descriptor);
      if (code === RLS_CODE.OVER_LIMIT) overall = RLS_CODE.OVER_LIMIT;
      const remaining = over ? 0 : Math.min(decision.remaining, UINT32_MAX);
      const durationUntilReset = resetOf(limit, decision, at);
      if (options.rateLimitHeaders) {
        policies.push({
          name: p.name,
          limit: limit.limit,
          windowSeconds: Math.ceil(limit.windowMs / 1000),
          remaining,
          resetSeconds: durationUntilReset.seconds + (durationUntilReset.nanos > 0 ? 1 : 0),
        });
      }
      return { code, currentLimit, limitRemaining: remaining, durationUntilReset };
    });
    const responseHeadersToAdd: RlsHeader[] = options.rateLimitHeaders
      ? draft10Headers(policies)
      : [];
    return { overallCode: overall, statuses, responseHeadersToAdd, requestHeadersToAdd: [] };
  };
}
