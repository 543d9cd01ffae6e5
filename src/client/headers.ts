/**
 * The standard rate-limit headers of a check's answer, as the node sets them on `/check`, for an
 * app that answers its own clients from the answer (the middleware does).
 *
 * @module
 */
import type { CheckAnswer } from "./types.ts";

/**
 * The rate-limit headers of `answer`: `X-RateLimit-Limit`, `X-RateLimit-Remaining`,
 * `X-RateLimit-Reset`, `Retry-After` when denied, and the IETF draft-10 `RateLimit-Policy` /
 * `RateLimit` pair. Times are delta seconds. The same headers as the node's own
 * (`tests/client/headers_test.ts` compares them).
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
