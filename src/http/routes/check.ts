import { Hono } from "hono";
import type { MonotonicClock } from "../../clock.ts";
import {
  algorithmParam,
  type CheckOutcome,
  type Decision,
  type LimitRequest,
} from "../../limiter/types.ts";
import type { LimitsPolicy } from "../../limiter/limits_policy.ts";
import type { LimitDefaults, OverrideLookup } from "../../limiter/resolve.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import type { Store } from "../../store/types.ts";
import {
  batchBodySchema,
  checkBodySchema,
  fastCheckBody,
  PEEK_QUERY_PARAMS,
  peekQuerySchema,
  resolveCheck,
} from "../check_input.ts";
import { MAX_BODY_BYTES, readJsonBody, readJsonRequest } from "../body.ts";
import { DEFAULT_BODY_TIMEOUT_MS } from "../../config.ts";
import { pathKey } from "../path_key.ts";
import { readQuery } from "../query.ts";
import { parseWith, throwIssues, type ValidationIssue } from "../validate.ts";
import { rateLimitHeaders } from "../../client/headers.ts";
import type { CheckAnswer, MultiCheckAnswer } from "../../client/types.ts";

export { checkBodySchema, keySchema } from "../check_input.ts";

/** Largest body of `POST /check/batch`, in bytes: 1,000 checks of a few limits each. */
export const MAX_BATCH_BODY_BYTES = 1024 * 1024;

/** Options for {@linkcode createCheckRoutes}. */
export interface CheckRoutesOptions {
  store: Store;
  metrics: Metrics;
  defaults: LimitDefaults;
  overrides: OverrideLookup;
  /** Largest values a client may ask for (a request above it is a 400 `policy_violation`). */
  policy: LimitsPolicy;
  /** Monotonic-enough time source for durations, in ms. @default {performance.now} */
  clock?: MonotonicClock;
}

// The JSON answers of a check: one definition, shared with the typed client.
export type { CheckAnswer, MultiCheckAnswer };

/** Builds the JSON answer of one decided limit. */
export function toAnswer(
  request: LimitRequest,
  decision: Decision,
  degraded?: "open" | "local",
): CheckAnswer {
  const answer: CheckAnswer = {
    allowed: decision.allowed,
    key: request.key,
    algorithm: request.algorithm,
    current_count: decision.count,
    remaining: decision.remaining,
    retry_after_seconds: decision.allowed
      ? 0
      : Math.max(1, Math.ceil(decision.retryAfterMs / 1000)),
    retry_after_ms: decision.retryAfterMs,
    reset_after_ms: decision.resetAfterMs,
    limit: request.limit,
    window_ms: request.windowMs,
  };
  if (request.algorithm === "gcra") answer.burst = algorithmParam(request);
  if (request.algorithm === "token_bucket") answer.refill_rate = algorithmParam(request);
  if (degraded !== undefined) answer.degraded = true;
  return answer;
}

/**
 * The answer of a decided check: a single-key answer for a single-key body, else a
 * {@linkcode MultiCheckAnswer}. When several limits deny, the one with the longest retry decides
 * the top-level fields, so `retry_after_*` (and `Retry-After`) is the time until every denying
 * limit would allow this request.
 */
export function checkAnswer(
  requests: LimitRequest[],
  outcome: CheckOutcome,
  multi: boolean,
): CheckAnswer | MultiCheckAnswer {
  const answers = requests.map((r, i) => toAnswer(r, outcome.decisions[i]!, outcome.degraded));
  if (!multi) return answers[0]!;
  let top = 0;
  if (!outcome.allowed) {
    top = -1;
    answers.forEach((a, i) => {
      if (!a.allowed && (top === -1 || a.retry_after_ms > answers[top]!.retry_after_ms)) top = i;
    });
    // A store reports at least one denying limit when it denies; guard anyway.
    if (top === -1) top = Math.max(0, outcome.deniedIndex);
  }
  return {
    ...answers[top]!,
    allowed: outcome.allowed,
    limits: answers,
    denied_index: outcome.allowed ? null : top,
    denied_key: outcome.allowed ? null : requests[top]!.key,
  };
}

// The standard rate-limit headers of an answer: one function for the node and the client.
export { rateLimitHeaders };

/** Adds `X-RateLimit-Degraded: <mode>` when an outcome came from the failure mode. */
export function degradedHeaders(
  headers: Record<string, string>,
  degraded: "open" | "local" | undefined,
): Record<string, string> {
  if (degraded !== undefined) headers["X-RateLimit-Degraded"] = degraded;
  return headers;
}

/**
 * The init headers of every check answer. Deno's `Response` constructor has a fast path for one
 * `Content-Type` header; any other header in the init goes through WebIDL record conversion, which
 * costs several µs per header. Appending the rate-limit headers to the built response is about a
 * third of passing them in the init (`bench/hot_path_bench.ts`), on the hottest path there is.
 */
const JSON_CONTENT_TYPE = { "Content-Type": "application/json" };

/**
 * The response of a decided check: its JSON answer, 200 or 429, and the rate-limit headers (and
 * `X-RateLimit-Degraded` when the failure mode answered). Same body and headers as Hono's
 * `c.json(answer, status, headers)`, built without the cost of passing headers in the init.
 */
export function checkResponse(
  answer: CheckAnswer,
  degraded: "open" | "local" | undefined,
): Response {
  const response = new Response(JSON.stringify(answer), {
    status: answer.allowed ? 200 : 429,
    headers: JSON_CONTENT_TYPE,
  });
  const headers = response.headers;
  const extra = degradedHeaders(rateLimitHeaders(answer), degraded);
  for (const name in extra) headers.append(name, extra[name]!);
  return response;
}

/**
 * The handler of `POST /check` on a plain `Request`, given its body deadline in ms: the answer, or
 * a thrown {@linkcode ApiError} / store error for the app's error handler. Used by the Hono route
 * and by the app's fast path for the exact `POST /check` (`check_fast_path.ts`).
 */
export function createCheckHandler(
  options: CheckRoutesOptions,
): (request: Request, bodyTimeoutMs: number) => Promise<Response> {
  const { defaults, overrides, policy } = options;
  const decide = createDecide(options);
  return async (request, bodyTimeoutMs) => {
    const raw = await readJsonRequest(request, {
      maxBytes: MAX_BODY_BYTES,
      timeoutMs: bodyTimeoutMs,
    });
    const body = fastCheckBody(raw) ?? parseWith(checkBodySchema, raw);
    const issues: ValidationIssue[] = [];
    const requests = resolveCheck(body, defaults, overrides, policy, issues);
    throwIssues(issues);
    return await decide(requests, body.limits !== undefined);
  };
}

/** Decides checks in the store and builds the answer, with the check metrics. */
function createDecide(
  options: CheckRoutesOptions,
): (requests: LimitRequest[], multi: boolean) => Promise<Response> {
  const { store, metrics } = options;
  const now = options.clock ?? (() => performance.now());
  return async (requests, multi) => {
    const started = now();
    const outcome = await store.check(requests);
    metrics.checkDuration.observe((now() - started) / 1000);
    const answer = checkAnswer(requests, outcome, multi);
    (answer.allowed ? metrics.checkedAllowed : metrics.checkedBlocked).inc();
    return checkResponse(answer, outcome.degraded);
  };
}

/** Routes of `POST /check`, `GET /check/{key}` (peek) and `POST /check/batch`. */
export function createCheckRoutes(options: CheckRoutesOptions): Hono {
  const { store, metrics, defaults, overrides, policy } = options;
  const now = options.clock ?? (() => performance.now());
  const app = new Hono();

  const count = (allowed: boolean) =>
    (allowed ? metrics.checkedAllowed : metrics.checkedBlocked).inc();

  const handleCheck = createCheckHandler(options);

  const decide = createDecide(options);

  app.post(
    "/check",
    (c) => handleCheck(c.req.raw, c.get("bodyTimeoutMs") ?? DEFAULT_BODY_TIMEOUT_MS),
  );

  app.post("/check/batch", async (c) => {
    const body = parseWith(
      batchBodySchema,
      await readJsonBody(c, { maxBytes: MAX_BATCH_BODY_BYTES }),
    );
    const issues: ValidationIssue[] = [];
    const groups = body.checks.map((check, i) =>
      resolveCheck(check, defaults, overrides, policy, issues, ["checks", i])
    );
    throwIssues(issues);
    const started = now();
    const outcomes = await store.checkMany(groups);
    metrics.checkDuration.observe((now() - started) / 1000);
    let degraded: "open" | "local" | undefined;
    const results = outcomes.map((outcome, i) => {
      const answer = checkAnswer(groups[i]!, outcome, body.checks[i]!.limits !== undefined);
      count(answer.allowed);
      degraded ??= outcome.degraded;
      return { status: answer.allowed ? 200 : 429, ...answer };
    });
    return c.json({ results }, 200, degradedHeaders({}, degraded));
  });

  // The key is the rest of the path, percent-encoded (so it may hold "/", "?" or "#").
  app.get("/check/:key{.+}", async (c) => {
    const key = pathKey(c);
    const query = parseWith(peekQuerySchema, readQuery(c.req.url, PEEK_QUERY_PARAMS), "query");
    const body = parseWith(checkBodySchema, { key, ...query, cost: 0 }, "request");
    const issues: ValidationIssue[] = [];
    const requests = resolveCheck(body, defaults, overrides, policy, issues);
    throwIssues(issues, "request");
    return await decide(requests, false);
  });

  return app;
}
