/**
 * The client against a real node on a real Redis (`RATELIMITER_FAILURE_MODE=closed`, so a Redis
 * outage is a 503 `store_unavailable`), plus a closed port and a server that never answers.
 */
import assert from "node:assert/strict";
import {
  type CheckAnswer,
  type CheckResult,
  createClient,
  type NodeInfo,
  type OverrideInfo,
  RatelimiterError,
  RatelimiterUnavailableError,
} from "../../src/client/mod.ts";
import { startNode } from "../_helpers/node_process.ts";
import { freePort, startRedis } from "../_helpers/redis_server.ts";
import { integration } from "../_helpers/options.ts";

const TOKEN = "client-test-token";

/** The decided answer of a result, failing the test when the service did not decide. */
function decided<A extends CheckAnswer>(result: CheckResult<A>): A {
  if (result.unavailable) assert.fail(`The service did not decide: ${JSON.stringify(result)}`);
  return result;
}

Deno.test({
  ...integration,
  name: "createClient() checks, peeks, batches and manages a real node on Redis",
  async fn(t) {
    await using redis = await startRedis();
    await using node = await startNode({
      env: {
        RATELIMITER_REDIS_URL: redis.url,
        RATELIMITER_FAILURE_MODE: "closed",
        RATELIMITER_ADMIN_TOKEN: TOKEN,
      },
    });
    const client = createClient({ url: node.url, token: TOKEN, timeoutMs: 5000 });

    await t.step("check() answers allowed, then denied as data with the retry", async () => {
      const request = { key: "user:1", limit: 2, window_ms: 60_000 };
      const first = decided(await client.check(request));
      assert.equal(first.allowed, true);
      assert.equal(first.remaining, 1);
      decided(await client.check(request));
      const third = decided(await client.check(request));
      assert.equal(third.allowed, false);
      assert.equal(third.remaining, 0);
      assert.ok(third.retry_after_seconds >= 1);
    });

    await t.step("peek() reads without consuming, with a key that needs encoding", async () => {
      const key = "{t}/é x?#";
      decided(await client.check({ key, limit: 5 }));
      const peeked = decided(await client.peek(key, { limit: 5 }));
      assert.equal(peeked.key, key);
      assert.equal(peeked.current_count, 1);
      assert.equal(decided(await client.peek(key, { limit: 5 })).current_count, 1);
    });

    await t.step("check() with limits answers every limit and the deciding one", async () => {
      const answer = decided(
        await client.check({
          limits: [{ key: "{m}:a", limit: 1 }, { key: "{m}:b", limit: 5, algorithm: "gcra" }],
        }),
      );
      assert.equal(answer.allowed, true);
      assert.equal(answer.limits.length, 2);
      assert.equal(answer.denied_index, null);
      const denied = decided(await client.check({ limits: [{ key: "{m}:a", limit: 1 }] }));
      assert.equal(denied.allowed, false);
      assert.equal(denied.denied_key, "{m}:a");
    });

    await t.step("batch() answers each check in order with its status", async () => {
      const { results } = await client.batch([
        { key: "b:1", limit: 1 },
        { key: "b:1", limit: 1 },
        { limits: [{ key: "{b}:x" }] },
      ]);
      assert.deepEqual(results.map((r) => decided(r).status), [200, 429, 200]);
    });

    await t.step("a refused request throws RatelimiterError with code and details", async () => {
      const error = await rejection(client.check({ key: "x", limit: 0 }));
      assert.ok(error instanceof RatelimiterError);
      assert.equal(error.status, 400);
      assert.equal(error.code, "invalid_request");
      assert.ok(Array.isArray(error.details));
      await assert.rejects(client.peek(""), TypeError);
      await assert.rejects(client.limits.get(".."), TypeError);
    });

    await t.step("the management calls read and change the node's state", async () => {
      const nodes = await client.nodes();
      assert.equal(nodes.length, 1);
      assertFields(nodes[0]!, NODE_FIELDS);
      const put = await client.limits.put("user:1", { limit: 1, window_ms: 60_000 });
      assert.equal(put.created, true);
      assertFields(await client.limits.get("user:1"), OVERRIDE_FIELDS);
      const list = await client.limits.list({ prefix: "user:" });
      assert.deepEqual(list.overrides.map((o) => o.key), ["user:1"]);
      const counters = await client.counters.list({ prefix: "user:1", limit: 10 });
      assert.deepEqual(counters.counters.map((c) => c.key), ["user:1"]);
      const blocks = await client.blocks({ prefix: "user:1" });
      assert.deepEqual(blocks.blocked.map((b) => b.key), ["user:1"]);
      assert.deepEqual(await client.counters.reset("user:1"), { key: "user:1", reset: true });
      assert.deepEqual(await client.limits.delete("user:1"), { key: "user:1", deleted: true });
      const missing = await rejection(client.limits.get("user:1"));
      assert.ok(missing instanceof RatelimiterError && missing.code === "not_found");
    });

    await t.step("without the token a change throws 401 unauthorized", async () => {
      const anonymous = createClient({ url: node.url, timeoutMs: 5000 });
      const error = await rejection(anonymous.limits.put("k", { limit: 1 }));
      assert.ok(error instanceof RatelimiterError);
      assert.equal(error.status, 401);
      assert.equal(error.code, "unauthorized");
      assert.ok(!error.message.includes(TOKEN));
    });

    await t.step("with Redis down a check is answered per onUnavailable", async () => {
      await redis.kill();
      const request = { key: "down", limit: 5 };
      const open = await client.check(request);
      assert.deepEqual(
        { allowed: open.allowed, unavailable: open.unavailable, key: open.key },
        { allowed: true, unavailable: true, key: "down" },
      );
      assert.equal(open.unavailable && open.reason, "store_unavailable");
      const closed = createClient({ url: node.url, onUnavailable: "closed", timeoutMs: 5000 });
      const denied = await closed.check(request);
      assert.equal(denied.allowed, false);
      assert.equal(denied.unavailable && denied.reason, "store_unavailable");
      const throwing = createClient({ url: node.url, onUnavailable: "throw", timeoutMs: 5000 });
      const error = await rejection(throwing.check(request));
      assert.ok(error instanceof RatelimiterUnavailableError);
      assert.equal(error.reason, "store_unavailable");
      assert.equal(error.status, 503);
      const management = await rejection(client.nodes());
      assert.ok(management instanceof RatelimiterUnavailableError);
    });
  },
});

const NODE_FIELDS: Record<keyof NodeInfo, true> = {
  id: true,
  address: true,
  state: true,
  registered_at: true,
  last_heartbeat_at: true,
  last_heartbeat_age_ms: true,
  version: true,
  self: true,
};
const OVERRIDE_FIELDS: Record<keyof OverrideInfo, true> = {
  key: true,
  limit: true,
  window_ms: true,
  algorithm: true,
  burst: true,
  refill_rate: true,
  updated_at: true,
};

/** What `promise` rejects with, failing the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("Expected a rejection");
}

/** The answer has exactly the fields its client type declares. */
function assertFields(answer: object, fields: Record<string, true>): void {
  assert.deepEqual(Object.keys(answer).sort(), Object.keys(fields).sort());
}

Deno.test("createClient() answers an unreachable service per onUnavailable", async () => {
  const url = `http://127.0.0.1:${freePort()}`; // nothing listens there
  const request = { key: "k" };
  const open: CheckResult = await createClient({ url }).check(request);
  assert.equal(open.allowed, true);
  assert.equal(open.unavailable && open.reason, "network");
  const closed = await createClient({ url, onUnavailable: "closed" }).check(request);
  assert.equal(closed.allowed, false);
  const peek = await createClient({ url, onUnavailable: "closed" }).peek("k");
  assert.equal(peek.allowed, false);
  const batch = await createClient({ url }).batch([request, request]);
  assert.deepEqual(batch.results.map((r) => [r.allowed, r.unavailable]), [
    [true, true],
    [true, true],
  ]);
  const error = await rejection(createClient({ url, onUnavailable: "throw" }).check(request));
  assert.ok(error instanceof RatelimiterUnavailableError && error.reason === "network");
  await assert.rejects(createClient({ url }).limits.list(), RatelimiterUnavailableError);
});

Deno.test("createClient() gives up on a silent service after timeoutMs", async () => {
  const never = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    await never.promise;
    return new Response("late");
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}`;
    const answer = await createClient({ url, timeoutMs: 100 }).check({ key: "k" });
    assert.equal(answer.unavailable && answer.reason, "timeout");
    const perCall = await createClient({ url, timeoutMs: 60_000 }).check({ key: "k" }, {
      timeoutMs: 100,
    });
    assert.equal(perCall.unavailable && perCall.reason, "timeout");
    // A caller's own abort is not "unavailable": it rejects with the caller's reason.
    const abort = new AbortController();
    const pending = createClient({ url }).check({ key: "k" }, { signal: abort.signal });
    abort.abort(new Error("caller gave up"));
    await assert.rejects(pending, { message: "caller gave up" });
  } finally {
    never.resolve();
    await server.shutdown();
  }
});

Deno.test("createClient() refuses a bad url, timeout or onUnavailable", () => {
  assert.throws(() => createClient({ url: "ftp://x" }), TypeError);
  assert.throws(() => createClient({ url: "http://u:s3cret@x" }), (error: Error) => {
    assert.ok(error instanceof TypeError && !error.message.includes("s3cret"));
    return true;
  });
  assert.throws(() => createClient({ url: "http://x", timeoutMs: 0 }), RangeError);
  assert.throws(
    () => createClient({ url: "http://x", onUnavailable: "maybe" as "open" }),
    TypeError,
  );
});

Deno.test("createClient() reads a proxy's 5xx as unavailable and its 4xx as an error", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) =>
      new URL(request.url).pathname === "/check"
        ? new Response("<html>Bad Gateway</html>", { status: 502 })
        : new Response("not here", { status: 404 }),
  );
  try {
    const client = createClient({ url: `http://127.0.0.1:${server.addr.port}` });
    const answer = await client.check({ key: "k" });
    assert.equal(answer.unavailable && answer.reason, "server_error");
    const error = await rejection(client.nodes());
    assert.ok(error instanceof RatelimiterError);
    assert.deepEqual([error.status, error.code], [404, "http_error"]);
  } finally {
    await server.shutdown();
  }
});
