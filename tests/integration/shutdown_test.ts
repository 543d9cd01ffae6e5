/**
 * Shutdown tests: SIGTERM lets requests in flight finish and exits 0, also while Redis is down;
 * SIGKILL loses no request that was already answered.
 *
 * @module
 */
import assert from "node:assert/strict";
import { runLoad } from "../_helpers/load.ts";
import { postJson, startNode } from "../_helpers/node_process.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";
import { sleep } from "../_helpers/wait.ts";

async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: string }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

Deno.test({
  name: "SIGTERM lets every request in flight finish with a normal answer, then exits 0",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    // A long store deadline: requests wait on the frozen Redis instead of degrading.
    const node = await startNode({
      env: {
        RATELIMITER_REDIS_URL: redis.url,
        RATELIMITER_STORE_TIMEOUT_MS: "5000",
        RATELIMITER_SHUTDOWN_GRACE_MS: "10000",
      },
    });
    try {
      redis.freeze();
      // 24 requests on their own connections, all held inside the node by the frozen store.
      const inFlight = Array.from({ length: 24 }, () => {
        const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
        return settle(
          fetch(`${node.url}/check`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ key: "inflight", limit: 20 }),
            client,
            signal: AbortSignal.timeout(15_000),
          }).then(async (res) => ({ status: res.status, body: await res.json() }))
            .finally(() => client.close()),
        );
      });
      await sleep(400);
      const exit = node.stop("SIGTERM");
      // The node is draining now; let it wait a little, then let Redis answer.
      await sleep(300);
      redis.thaw();
      const answers = await Promise.all(inFlight);
      assert.deepEqual(answers.filter((a) => a.error !== undefined), []);
      const statuses = answers.map((a) => a.value!.status).sort();
      assert.deepEqual(statuses, [...Array(20).fill(200), ...Array(4).fill(429)]);
      assert.ok(answers.every((a) => a.value!.body.degraded === undefined));
      assert.equal(await exit, 0);
      const done = node.logs.find((l) => l.event === "shutdown_complete");
      assert.equal(done?.in_flight, "drained", JSON.stringify(node.logs));
      // Nothing listens any more: refused at once, not hung.
      await assert.rejects(
        Deno.connect({ hostname: "127.0.0.1", port: node.port }),
        Deno.errors.ConnectionRefused,
      );
      // Every allowed answer was counted.
      assert.equal(await redis.cli("ZCOUNT", "rl:sl:{inflight}", "-inf", "(+inf"), "20");
    } finally {
      redis.thaw();
      await node.stop("SIGKILL");
    }
  },
});

Deno.test({
  name: "SIGKILL of a node under load loses no request it had already answered allowed",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    // The load's limit 1,000,000 (never denied) is above the default sliding-log policy.
    const env = { RATELIMITER_REDIS_URL: redis.url, RATELIMITER_MAX_LIMIT: "1000000" };
    const [victim, survivor] = await Promise.all([startNode({ env }), startNode({ env })]);
    try {
      const stop = new AbortController();
      const clients = 6;
      const load = runLoad({
        urls: [victim.url, survivor.url],
        clients,
        body: () => ({ key: "killed", limit: 1_000_000, window_ms: 600_000 }),
        signal: stop.signal,
        requestTimeoutMs: 10_000,
        pauseMs: 0,
      });
      await sleep(800);
      await victim.stop("SIGKILL");
      await sleep(300);
      stop.abort();
      const results = await load;
      const allowed = results.filter((r) => r.status === 200 && r.degraded === null).length;
      assert.ok(allowed > 50, `only ${allowed} requests were answered`);
      assert.ok(
        results.some((r) => r.url === victim.url && r.status === 0),
        "the kill was not seen",
      );
      assert.equal(results.filter((r) => r.status !== 0 && r.status !== 200).length, 0);
      const counted = Number(await redis.cli("ZCOUNT", "rl:sl:{killed}", "-inf", "(+inf"));
      // Every answered request is counted; at most one per client was counted but not answered.
      assert.ok(counted >= allowed, `${counted} counted < ${allowed} answered allowed`);
      assert.ok(counted <= allowed + clients, `${counted} counted, ${allowed} answered`);
    } finally {
      await Promise.all([victim.stop("SIGKILL"), survivor.stop("SIGKILL")]);
    }
  },
});

Deno.test({
  name: "SIGTERM exits 0 promptly while Redis is frozen or dead",
  ...opts,
  async fn(t) {
    await using redis = await startRedis();
    const env = { RATELIMITER_REDIS_URL: redis.url, RATELIMITER_STORE_TIMEOUT_MS: "100" };

    await t.step("Redis frozen, with replies still pending", async () => {
      const node = await startNode({ env });
      try {
        redis.freeze();
        const res = await postJson(`${node.url}/check`, { key: "p" });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("x-ratelimit-degraded"), "open");
        const started = performance.now();
        assert.equal(await node.stop("SIGTERM"), 0);
        // Bounded by closeRedis's 2 s wait for pending replies, though Redis never answers; the
        // margin is for a loaded machine (an unbounded close would never exit).
        const ms = performance.now() - started;
        assert.ok(ms < 15_000, `exit took ${ms} ms`);
      } finally {
        redis.thaw();
        await node.stop("SIGKILL");
      }
    });

    await t.step("Redis dead", async () => {
      const node = await startNode({ env });
      try {
        await redis.kill();
        const res = await postJson(`${node.url}/check`, { key: "d" });
        assert.equal(res.status, 200);
        const started = performance.now();
        assert.equal(await node.stop("SIGTERM"), 0);
        const ms = performance.now() - started;
        assert.ok(ms < 6000, `exit took ${ms} ms`);
        assert.ok(node.logs.some((l) => l.event === "shutdown_complete"));
      } finally {
        await node.stop("SIGKILL");
      }
    });
  },
});

Deno.test({
  name: "SIGTERM waits no longer than the grace period for a request that does not finish",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const node = await startNode({
      env: {
        RATELIMITER_REDIS_URL: redis.url,
        RATELIMITER_STORE_TIMEOUT_MS: "20000",
        RATELIMITER_SHUTDOWN_GRACE_MS: "500",
      },
    });
    try {
      redis.freeze();
      const stuck = settle(postJson(`${node.url}/check`, { key: "stuck" }));
      await sleep(300);
      const started = performance.now();
      assert.equal(await node.stop("SIGTERM"), 0);
      const ms = performance.now() - started;
      // Grace (0.5 s) + closeRedis (≤ 2 s) + margin; the store alone would wait 20 s.
      assert.ok(ms < 8000, `exit took ${ms} ms`);
      const done = node.logs.find((l) => l.event === "shutdown_complete");
      assert.equal(done?.in_flight, "timeout");
      assert.ok((await stuck).error !== undefined);
    } finally {
      redis.thaw();
      await node.stop("SIGKILL");
    }
  },
});
