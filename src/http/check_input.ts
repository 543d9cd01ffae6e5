/**
 * What a check request may say, and how it becomes limits to decide: the zod schemas of
 * `POST /check`, `GET /check/{key}` and `POST /check/batch`, and the checks that need the resolved
 * limits (one Redis Cluster slot per multi-limit check, no limit twice).
 *
 * @module
 */
import { z } from "zod";
import { ApiError } from "../errors.ts";
import {
  keyProblem,
  MAX_BATCH_CHECKS,
  MAX_LIMIT,
  MAX_LIMITS_PER_CHECK,
  MAX_WINDOW_MS,
} from "../limiter/bounds.ts";
import type { LimitsPolicy, PolicyViolation } from "../limiter/limits_policy.ts";
import {
  type LimitDefaults,
  type LimitInput,
  type OverrideLookup,
  resolveLimitWithin,
} from "../limiter/resolve.ts";
import { ALGORITHMS, type LimitRequest } from "../limiter/types.ts";
import { slotTag } from "../store/keys.ts";
import type { ValidationIssue } from "./validate.ts";

/** zod schema of a rate-limit key. */
export const keySchema = z.string().superRefine((key, ctx) => {
  const problem = keyProblem(key);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: `key ${problem}` });
});

/**
 * An optional field of a request body where JSON `null` means absent, as in the original service's
 * clients (Python's `None`): `{"window_ms": null}` is `{}`. The parsed value is then `undefined`
 * (the key stays, holding `undefined`), so handlers never see `null`. A required field stays
 * required: `null` there is a 400 like any other wrong type.
 */
export function optionalField<T extends z.ZodType>(schema: T) {
  return schema.nullish().transform((value) => value ?? undefined).optional();
}

const limitFields = {
  limit: optionalField(z.int().min(1).max(MAX_LIMIT)),
  window_ms: optionalField(z.int().min(1).max(MAX_WINDOW_MS)),
  algorithm: optionalField(z.enum(ALGORITHMS)),
  cost: optionalField(z.int().min(0).max(MAX_LIMIT)),
  burst: optionalField(z.int().min(1).max(MAX_LIMIT)),
  refill_rate: optionalField(z.int().min(1).max(MAX_LIMIT)),
};

/** The fields of one limit, as a client writes them. */
export interface LimitFields {
  key: string;
  limit?: number | undefined;
  window_ms?: number | undefined;
  algorithm?: typeof ALGORITHMS[number] | undefined;
  cost?: number | undefined;
  burst?: number | undefined;
  refill_rate?: number | undefined;
}

/** `burst` and `refill_rate` belong to one algorithm each, which the request must name. */
export function checkParams(
  value: {
    algorithm?: string | undefined;
    burst?: number | undefined;
    refill_rate?: number | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  if (value.burst !== undefined && value.algorithm !== "gcra") {
    ctx.addIssue({
      code: "custom",
      path: ["burst"],
      message: 'burst applies only with "algorithm": "gcra"',
    });
  }
  if (value.refill_rate !== undefined && value.algorithm !== "token_bucket") {
    ctx.addIssue({
      code: "custom",
      path: ["refill_rate"],
      message: 'refill_rate applies only with "algorithm": "token_bucket"',
    });
  }
}

/** zod schema of one item of `limits`. */
export const limitItemSchema = z.strictObject({ key: keySchema, ...limitFields }).superRefine(
  checkParams,
);

const SINGLE_ONLY = ["limit", "window_ms", "algorithm", "cost", "burst", "refill_rate"] as const;

/**
 * zod schema of the body of `POST /check` (and of each item of a batch): exactly one of `key`
 * (with its own fields) or `limits` (1 to 16 limits decided together).
 */
export const checkBodySchema = z.strictObject({
  key: optionalField(keySchema),
  limits: optionalField(z.array(limitItemSchema).min(1).max(MAX_LIMITS_PER_CHECK)),
  ...limitFields,
}).superRefine((body, ctx) => {
  if ((body.key === undefined) === (body.limits === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [],
      message: 'expected exactly one of "key" or "limits"',
    });
    return;
  }
  if (body.limits === undefined) {
    checkParams(body, ctx);
    return;
  }
  for (const field of SINGLE_ONLY) {
    if (body[field] !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: [field],
        message: `${field} goes inside each item of "limits", not beside it`,
      });
    }
  }
});

/** A parsed `POST /check` body. */
export type CheckBody = z.infer<typeof checkBodySchema>;

const ALGORITHM_SET: ReadonlySet<string> = new Set(ALGORITHMS);

/** The optional fields {@linkcode fastCheckBody} reads, where `null` means absent. */
const FAST_OPTIONAL: ReadonlySet<string> = new Set(["limit", "window_ms", "algorithm", "cost"]);

/** Whether `value` is an integer `checkBodySchema` accepts for a field bounded by [min, max]. */
function isIntIn(value: unknown, min: number, max: number): boolean {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

/**
 * The parsed body when `value` is the common single-key `POST /check` body — a plain object with
 * `key` and at most `limit`, `window_ms`, `algorithm` and `cost`, every one valid or `null`
 * (absent: a copy holds `undefined` there, as the schema's result does) — else undefined.
 *
 * Why: zod costs about 1.5 µs per body, a visible share of a check's JavaScript time on the hottest
 * route (`bench/RESULTS.md`, "Third pass"). This accepts only what {@linkcode checkBodySchema}
 * accepts and yields the same fields; anything else (any other field, any invalid value) returns
 * undefined so the caller parses with the schema, and errors stay exactly the schema's.
 */
export function fastCheckBody(value: unknown): CheckBody | undefined {
  if (
    typeof value !== "object" || value === null || Object.getPrototypeOf(value) !== Object.prototype
  ) {
    return undefined;
  }
  const body = value as Record<string, unknown>;
  let hasKey = false;
  let hasNull = false;
  for (const field in body) {
    const v = body[field];
    if (v === null) {
      // Absent, on the fields this path knows but the key (required; the schema rejects it).
      if (!FAST_OPTIONAL.has(field)) return undefined;
      hasNull = true;
      continue;
    }
    switch (field) {
      case "key":
        if (typeof v !== "string" || keyProblem(v) !== undefined) return undefined;
        hasKey = true;
        break;
      case "limit":
        if (!isIntIn(v, 1, MAX_LIMIT)) return undefined;
        break;
      case "window_ms":
        if (!isIntIn(v, 1, MAX_WINDOW_MS)) return undefined;
        break;
      case "cost":
        if (!isIntIn(v, 0, MAX_LIMIT)) return undefined;
        break;
      case "algorithm":
        if (typeof v !== "string" || !ALGORITHM_SET.has(v)) return undefined;
        break;
      default:
        return undefined;
    }
  }
  if (!hasKey) return undefined;
  if (!hasNull) return body as CheckBody;
  const copy: Record<string, unknown> = {};
  for (const field in body) copy[field] = body[field] ?? undefined;
  return copy as CheckBody;
}

/** zod schema of the body of `POST /check/batch`. */
export const batchBodySchema = z.strictObject({
  checks: z.array(checkBodySchema).min(1).max(MAX_BATCH_CHECKS),
});

const queryInt = (max: number) =>
  z.string().regex(/^[0-9]{1,16}$/, "expected a whole number").transform(Number).pipe(
    z.int().min(1).max(max),
  );

/**
 * zod schema of the query of `GET /check/{key}` (a peek: no cost). Read with `readQuery`, which
 * leaves out parameters other than {@linkcode PEEK_QUERY_PARAMS}.
 */
export const peekQuerySchema = z.strictObject({
  limit: queryInt(MAX_LIMIT).optional(),
  window_ms: queryInt(MAX_WINDOW_MS).optional(),
  algorithm: z.enum(ALGORITHMS).optional(),
  burst: queryInt(MAX_LIMIT).optional(),
  refill_rate: queryInt(MAX_LIMIT).optional(),
}).superRefine(checkParams);

/** The query parameters `GET /check/{key}` reads; any other is ignored. */
export const PEEK_QUERY_PARAMS: readonly string[] = Object.keys(peekQuerySchema.shape);

function toInput(fields: LimitFields) {
  return {
    key: fields.key,
    limit: fields.limit,
    windowMs: fields.window_ms,
    algorithm: fields.algorithm,
    cost: fields.cost,
    burst: fields.burst,
    refillRate: fields.refill_rate,
  };
}

/**
 * Resolves a check body into the limits to decide together, collecting into `issues` (with paths
 * under `at`) what only the resolved limits can show: keys of one multi-limit check on different
 * Redis Cluster slots, and one (key, algorithm) pair twice.
 *
 * Throws the 400 `policy_violation` at the first value the client asked for above `policy` (see
 * {@linkcode resolveLimitWithin}), before anything is decided.
 */
export function resolveCheck(
  body: CheckBody,
  defaults: LimitDefaults,
  overrides: OverrideLookup,
  policy: LimitsPolicy,
  issues: ValidationIssue[],
  at: (string | number)[] = [],
): LimitRequest[] {
  const within = (input: LimitInput, path: (string | number)[]): LimitRequest => {
    const { request, violation } = resolveLimitWithin(input, defaults, overrides, policy);
    if (violation !== undefined) throw policyError(violation, [...path, violation.field]);
    return request;
  };
  if (body.limits === undefined) return [within(toInput({ ...body, key: body.key! }), at)];
  const requests = body.limits.map((item, i) => within(toInput(item), [...at, "limits", i]));
  const first = requests[0]!;
  const tag = slotTag(first.key);
  const seen = new Map<string, number>();
  requests.forEach((request, i) => {
    const path = [...at, "limits", i, "key"].join(".");
    if (slotTag(request.key) !== tag) {
      issues.push({
        path,
        message: `key ${JSON.stringify(request.key)} would not be on the Redis Cluster slot of ` +
          `${JSON.stringify(first.key)}, so the check could not be atomic: the keys of one ` +
          `multi-limit check must share a leading hash tag, e.g. "{tenant42}:user" and ` +
          `"{tenant42}:ip"`,
      });
    }
    const pair = `${request.algorithm}\u0000${request.key}`;
    const previous = seen.get(pair);
    if (previous === undefined) {
      seen.set(pair, i);
    } else {
      issues.push({
        path,
        message: `key ${JSON.stringify(request.key)} under ${request.algorithm} is already limit ` +
          `${previous} of this check (after overrides); each (key, algorithm) may appear once`,
      });
    }
  });
  return requests;
}

/** The 400 answer to a value above the limits policy, at `path` of the request. */
function policyError(violation: PolicyViolation, path: (string | number)[]): ApiError {
  const at = path.join(".");
  return new ApiError(
    400,
    "policy_violation",
    `Not allowed by the limits policy: "${at}" is ${violation.value}, above the maximum of ` +
      `${violation.max} for ${violation.algorithm}`,
    { details: [{ path: at, ...violation }] },
  );
}
