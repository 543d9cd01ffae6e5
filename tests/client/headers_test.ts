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

Deno.test("rateLimitHeaders() gives the legacy and draft-10 headers of allowed and denied answers", () => {
  assert.deepEqual(rateLimitHeaders(base), {
    "X-RateLimit-Limit": "10",
    "X-RateLimit-Remaining": "9",
    "X-RateLimit-Reset": "2",
    "RateLimit-Policy": '"default";q=10;w=60',
    "RateLimit": '"default";r=9;t=2',
  });
  assert.deepEqual(rateLimitHeaders({ ...base, reset_after_ms: 0, window_ms: 1 }), {
    "X-RateLimit-Limit": "10",
    "X-RateLimit-Remaining": "9",
    "X-RateLimit-Reset": "0",
    "RateLimit-Policy": '"default";q=10;w=1',
    "RateLimit": '"default";r=9;t=0',
  });
  const denied = {
    ...base,
    allowed: false,
    remaining: 0,
    current_count: 10,
    retry_after_seconds: 3,
    retry_after_ms: 2001,
  };
  assert.deepEqual(rateLimitHeaders(denied), {
    "X-RateLimit-Limit": "10",
    "X-RateLimit-Remaining": "0",
    "X-RateLimit-Reset": "3",
    "RateLimit-Policy": '"default";q=10;w=60',
    "RateLimit": '"default";r=0;t=3',
    "Retry-After": "3",
  });
});

Deno.test("the node's /check answers use the client's rateLimitHeaders()", () => {
  assert.equal(nodeHeaders, rateLimitHeaders);
});
