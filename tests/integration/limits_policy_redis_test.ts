/**
 * Issue 9's attacks against a real node on a real Redis, under the default limits policy: each is
 * refused with 400 before any script runs, and Redis holds no counter afterwards.
 *
 * @module
 */
import assert from "node:assert/strict";
import { postJson, startNode } from "../_helpers/node_process.ts";
import { startRedis, type TestRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

/** Counter keys in Redis: only client keys are wrapped in a hash tag. */
async function counterKeys(redis: TestRedis): Promise<string> {
  return await redis.cli("KEYS", "*{*");
}

async function scriptCalls(redis: TestRedis): Promise<number> {
  const info = await redis.cli("INFO", "commandstats");
  let calls = 0;
  for (const match of info.matchAll(/cmdstat_(?:evalsha|eval|fcall):calls=(\d+)/g)) {
    calls += Number(match[1]);
  }
  return calls;
}

Deno.test({
  name: "a node on Redis refuses issue 9's oversized sliding-log checks before running a script",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    await using node = await startNode({ env: { RATELIMITER_REDIS_URL: redis.url } });
    const scriptsBefore = await scriptCalls(redis);
    const attack = { limit: 1_000_000, cost: 1_000_000, window_ms: 1 };
    const month = { limit: 1_000_000, cost: 1_000_000, window_ms: 2_592_000_000 };
    const attempts: [string, unknown, string][] = [
      ["/check", { key: "junk", ...attack }, "limit"],
      ["/check", { key: "junk", limit: 10_000, cost: 1_000_000, window_ms: 1 }, "cost"],
      [
        "/check",
        { limits: [0, 1, 2, 3].map((i) => ({ key: `{j}:${i}`, ...attack })) },
        "limits.0.limit",
      ],
      [
        "/check/batch",
        { checks: [0, 1, 2, 3, 4].map((i) => ({ key: `m${i}`, ...month })) },
        "checks.0.limit",
      ],
    ];
    for (const [path, body, field] of attempts) {
      const res = await postJson(`${node.url}${path}`, body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      const error = res.body.error as { code: string; message: string };
      assert.equal(error.code, "policy_violation");
      assert.match(error.message, new RegExp(`"${field.replaceAll(".", "\\.")}"`));
    }
    const peek = await fetch(`${node.url}/check/junk?window_ms=2592000000`);
    assert.equal(peek.status, 400);
    await peek.body?.cancel();
    assert.equal(await counterKeys(redis), "");
    assert.equal(await scriptCalls(redis), scriptsBefore, "no script ran");
    // A check within the policy is decided as usual.
    const ok = await postJson(`${node.url}/check`, { key: "fine", limit: 10_000, cost: 10_000 });
    assert.equal(ok.status, 200);
    assert.notEqual(await counterKeys(redis), "");
  },
});
