import assert from "node:assert/strict";
import { rateLimitHeaders } from "../../src/client/headers.ts";
import { rateLimitHeaders as nodeHeaders } from "../../src/http/routes/check.ts";
import type { CheckAnswer } from "../../src/client/types.ts";

const base: CheckAnswer = {
  allowed: true,
  key: "k",
  algorithm: "sliding_log",
  current_count: 1,
  remaining: 9,
  retry_after_seconds: 0,
  retry_after_ms: 0,
  reset_after_ms: 1500,
  limit: 10,
  window_ms: 60_000,
};

Deno.test("rateLimitHeaders() sets the node's own headers for allowed and denied answers", () => {
  const answers: CheckAnswer[] = [
    base,
    { ...base, reset_after_ms: 0, window_ms: 1 },
    {
      ...base,
      allowed: false,
      remaining: 0,
      current_count: 10,
      retry_after_seconds: 3,
      retry_after_ms: 2001,
    },
  ];
  for (const answer of answers) assert.deepEqual(rateLimitHeaders(answer), nodeHeaders(answer));
  assert.equal(rateLimitHeaders(answers[2]!)["Retry-After"], "3");
  assert.equal(rateLimitHeaders(base)["Retry-After"], undefined);
});
