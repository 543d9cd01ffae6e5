import assert from "node:assert/strict";
import { ALGORITHMS } from "../../src/limiter/types.ts";
import { postJson, startNode } from "../_helpers/node_process.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

/**
 * A window of about 30 days whose epoch-aligned boundary is more than five minutes away, so the
 * fixed and sliding windows cannot roll over during a burst and token refill is negligible.
 */
function windowAwayFromBoundary(): number {
  for (let window = 2_592_000_000;; window -= 1_000_000) {
    const into = Date.now() % window;
    if (into > 300_000 && window - into > 300_000) return window;
  }
}

async function peek(url: string, key: string, query: Record<string, string>) {
  const res = await fetch(`${url}/check/${encodeURIComponent(key)}?${new URLSearchParams(query)}`);
  const body = await res.json();
  return body as { current_count: number; allowed: boolean; algorithm: string };
}

Deno.test({
  name: "three nodes on one Redis: every algorithm is exact under concurrency, and multi-limit " +
    "checks never consume a limit for a denied request",
  ...opts,
  async fn(t) {
    await using redis = await startRedis();
    // These tests are about atomicity, not outages: a generous store deadline keeps a loaded
    // machine from tripping the breaker and answering in the (inexact) open failure mode.
    // The ~30-day window (see above) is past the default sliding-log policy of one day.
    const env = {
      RATELIMITER_REDIS_URL: redis.url,
      RATELIMITER_STORE_TIMEOUT_MS: "5000",
      RATELIMITER_MAX_WINDOW_MS: "2592000000",
    };
    const nodes = await Promise.all([startNode({ env }), startNode({ env }), startNode({ env })]);
    const urls = nodes.map((n) => n.url);
    const window = windowAwayFromBoundary();
    try {
      for (const algorithm of ALGORITHMS) {
        await t.step(
          `${algorithm}: 150 simultaneous requests with limit 40 allow exactly 40`,
          async () => {
            const key = `exact-${algorithm}`;
            const replies = await Promise.all(
              Array.from(
                { length: 150 },
                (_, i) =>
                  postJson(`${urls[i % 3]}/check`, {
                    key,
                    limit: 40,
                    window_ms: window,
                    algorithm,
                  }),
              ),
            );
            const allowed = replies.filter((r) => r.status === 200).length;
            const denied = replies.filter((r) => r.status === 429).length;
            assert.deepEqual([allowed, denied], [40, 110]);
            const state = await peek(urls[0]!, key, {
              limit: "40",
              window_ms: String(window),
              algorithm,
            });
            assert.equal(state.current_count, 40);
            assert.equal(state.allowed, false);
          },
        );
      }

      for (const tight of ALGORITHMS) {
        await t.step(
          `multi-limit with a tight ${tight} limit: denied checks consume nothing`,
          async () => {
            const tag = `{multi-${tight}}`;
            const limits = ALGORITHMS.map((algorithm) => ({
              key: `${tag}:${algorithm}`,
              algorithm,
              limit: algorithm === tight ? 20 : 1000,
              window_ms: window,
            }));
            const replies = await Promise.all(
              Array.from({ length: 100 }, (_, i) => postJson(`${urls[i % 3]}/check`, { limits })),
            );
            const allowed = replies.filter((r) => r.status === 200).length;
            assert.equal(allowed, 20);
            for (const reply of replies.filter((r) => r.status === 429)) {
              assert.equal(reply.body.denied_key, `${tag}:${tight}`);
            }
            // Every limit, tight or loose, was consumed exactly once per allowed check.
            for (const limit of limits) {
              const state = await peek(urls[1]!, limit.key, {
                limit: String(limit.limit),
                window_ms: String(window),
                algorithm: limit.algorithm,
              });
              assert.equal(state.current_count, 20, `${limit.key}`);
            }
          },
        );
      }
    } finally {
      await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    }
  },
});
