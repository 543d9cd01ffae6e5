import { Hono } from "hono";
import { z } from "zod";
import type { Clock } from "../clock.ts";
import type { Decision, LimitRequest } from "../limiter/types.ts";
import { type LimitDefaults, type OverrideLookup, resolveLimit } from "../limiter/resolve.ts";
import type { Metrics } from "../metrics.ts";
import type { Store } from "../store/types.ts";
import { keyProblem, parseWith, readJsonBody } from "./validate.ts";

/** Largest `limit` a request may ask for. */
export const MAX_LIMIT = 1_000_000;
/** Longest `window_ms` a request may ask for: 30 days. */
export const MAX_WINDOW_MS = 30 * 86_400_000;

/** zod schema of a rate-limit key. */
export const keySchema = z.string().superRefine((key, ctx) => {
  const problem = keyProblem(key);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: `key ${problem}` });
});

/** zod schema of the body of `POST /check`. */
export const checkBodySchema = z.strictObject({
  key: keySchema,
  limit: z.int().min(1).max(MAX_LIMIT).optional(),
  window_ms: z.int().min(1).max(MAX_WINDOW_MS).optional(),
});

/** Options for {@linkcode createCheckRoutes}. */
export interface CheckRoutesOptions {
  store: Store;
  metrics: Metrics;
  defaults: LimitDefaults;
  overrides: OverrideLookup;
  /** Monotonic-enough time source for durations, in ms. @default {performance.now} */
  clock?: Clock;
}

/** The JSON answer of one check. */
export interface CheckAnswer {
  allowed: boolean;
  key: string;
  algorithm: string;
  current_count: number;
  remaining: number;
  retry_after_seconds: number;
  retry_after_ms: number;
  reset_after_ms: number;
  limit: number;
  window_ms: number;
  /** Present (true) only when the answer came from the failure mode, not the shared store. */
  degraded?: true;
}

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
  if (degraded !== undefined) answer.degraded = true;
  return answer;
}

/**
 * The standard rate-limit headers of an answer: `X-RateLimit-*`, `Retry-After` when blocked, and
 * the IETF draft-10 `RateLimit-Policy` / `RateLimit` pair. Times are delta seconds.
 */
export function rateLimitHeaders(answer: CheckAnswer): Record<string, string> {
  const resetSeconds = Math.ceil(answer.reset_after_ms / 1000);
  const windowSeconds = Math.max(1, Math.ceil(answer.window_ms / 1000));
  const t = answer.allowed ? resetSeconds : answer.retry_after_seconds;
  const headers: Record<string, string> = {
    "X-RateLimit-Limit": String(answer.limit),
    "X-RateLimit-Remaining": String(answer.remaining),
    "X-RateLimit-Reset": String(t),
    "RateLimit-Policy": `"default";q=${answer.limit};w=${windowSeconds}`,
    "RateLimit": `"default";r=${answer.remaining};t=${t}`,
  };
  if (!answer.allowed) headers["Retry-After"] = String(answer.retry_after_seconds);
  return headers;
}

/** Adds `X-RateLimit-Degraded: <mode>` when an outcome came from the failure mode. */
export function degradedHeaders(
  headers: Record<string, string>,
  degraded: "open" | "local" | undefined,
): Record<string, string> {
  if (degraded !== undefined) headers["X-RateLimit-Degraded"] = degraded;
  return headers;
}

/** Routes of `POST /check`. */
export function createCheckRoutes(options: CheckRoutesOptions): Hono {
  const { store, metrics, defaults, overrides } = options;
  const now = options.clock ?? (() => performance.now());
  const app = new Hono();

  app.post("/check", async (c) => {
    const body = parseWith(checkBodySchema, await readJsonBody(c));
    const request = resolveLimit(
      { key: body.key, limit: body.limit, windowMs: body.window_ms },
      defaults,
      overrides,
    );
    const started = now();
    const outcome = await store.check([request]);
    metrics.checkDuration.observe((now() - started) / 1000);
    const answer = toAnswer(request, outcome.decisions[0]!, outcome.degraded);
    (answer.allowed ? metrics.checkedAllowed : metrics.checkedBlocked).inc();
    return c.json(
      answer,
      answer.allowed ? 200 : 429,
      degradedHeaders(rateLimitHeaders(answer), outcome.degraded),
    );
  });

  return app;
}
