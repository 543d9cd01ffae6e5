/**
 * Fault tests: Redis killed, paused and put to sleep under a steady load against two `main.ts`
 * nodes. Bounds here are correctness bounds (no request hangs past the deadline plus a generous
 * margin for a shared machine), not speed measurements; see bench/RESULTS.md for latencies.
 *
 * @module
 */
import assert from "node:assert/strict";
import { countStatuses, type LoadResult, runLoad, slowest } from "../_helpers/load.ts";
import { postJson, startNode, type TestNode } from "../_helpers/node_process.ts";
import { startRedis, type TestRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";
import { sleep } from "../_helpers/wait.ts";

/**
 * Above the default 100 ms so that a starved event loop on a busy CI machine cannot trip the
 * breaker during the healthy phases and make an exactness check flaky.
 */
const STORE_TIMEOUT_MS = 250;
/** Slack over the deadline for a loaded, shared 2-core machine. */
const MARGIN_MS = 1000;
const CLIENTS = 6;

async function readyStatus(node: TestNode): Promise<number> {
  try {
    const res = await fetch(`${node.url}/ready`, { signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

async function waitReady(nodes: TestNode[], status: number, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (true) {
    const statuses = await Promise.all(nodes.map(readyStatus));
    if (statuses.every((s) => s === status)) return;
    if (Date.now() > deadline) {
      throw new Error(`/ready did not become ${status} within ${ms} ms: ${statuses}`);
    }
    await sleep(50);
  }
}

/** Sends `total` simultaneous checks of a fresh key with limit `limit` across the nodes. */
async function exactBurst(nodes: TestNode[], key: string, limit: number, total: number) {
  const answers = await Promise.all(
    Array.from(
      { length: total },
      (_, i) =>
        postJson(`${nodes[i % nodes.length]!.url}/check`, { key, limit, window_ms: 60_000 }),
    ),
  );
  return {
    allowed: answers.filter((a) => a.status === 200).length,
    blocked: answers.filter((a) => a.status === 429).length,
    degraded: answers.filter((a) => a.headers.get("x-ratelimit-degraded") !== null).length,
  };
}

/** Runs a load on `nodes` while `fault` runs, then checks that nothing hung, failed or 5xx'd. */
async function underLoad(
  nodes: TestNode[],
  label: string,
  fault: () => Promise<void>,
): Promise<LoadResult[]> {
  const stop = new AbortController();
  const load = runLoad({
    urls: nodes.map((n) => n.url),
    clients: CLIENTS,
    body: (client) => ({ key: `${label}:${client}`, limit: 1_000_000, window_ms: 60_000 }),
    signal: stop.signal,
    requestTimeoutMs: 10_000,
  });
  try {
    await sleep(300);
    await fault();
  } finally {
    stop.abort();
  }
  const results = await load;
  const failures = results.filter((r) => r.status === 0);
  assert.deepEqual(failures.map((r) => r.error), [], `${label}: requests failed`);
  assert.deepEqual(Object.keys(countStatuses(results)), ["200"], `${label}: statuses`);
  const worst = slowest(results);
  assert.ok(
    worst < STORE_TIMEOUT_MS + MARGIN_MS,
    `${label}: slowest request took ${Math.round(worst)} ms`,
  );
  assert.ok(
    results.some((r) => r.degraded === "open"),
    `${label}: the fault was never seen (no degraded answer in ${results.length})`,
  );
  for (const r of results.filter((r) => r.degraded !== null)) {
    assert.equal(r.body?.degraded, true);
  }
  return results;
}

async function assertAlive(nodes: TestNode[]): Promise<void> {
  for (const node of nodes) {
    const exited = await Promise.race([node.status.then(() => true), sleep(0).then(() => false)]);
    assert.equal(exited, false, `node ${node.port} exited: ${JSON.stringify(node.logs.slice(-5))}`);
  }
}

function countLogs(node: TestNode, event: string): number {
  return node.logs.filter((l) => l.event === event).length;
}

Deno.test({
  name: "two nodes in open mode ride out Redis killed, paused and asleep, then limit exactly again",
  ...opts,
  async fn(t) {
    await using redis = await startRedis();
    const env = {
      RATELIMITER_REDIS_URL: redis.url,
      RATELIMITER_STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
      RATELIMITER_FAILURE_MODE: "open",
      // The load's limit 1,000,000 (never denied) is above the default sliding-log policy.
      RATELIMITER_MAX_LIMIT: "1000000",
    };
    const nodes = await Promise.all([startNode({ env }), startNode({ env })]);
    try {
      const before = await exactBurst(nodes, "warmup", 5, 12);
      assert.deepEqual(before, { allowed: 5, blocked: 7, degraded: 0 });

      await t.step("Redis killed, then restarted empty", async () => {
        await underLoad(nodes, "kill", async () => {
          await redis.kill();
          await sleep(300);
          await waitReady(nodes, 503, 5000);
          await sleep(700);
          await redis.restart();
          await waitReady(nodes, 200);
          await sleep(200);
        });
        await assertAlive(nodes);
        // Recovery with no restart of the service: exact again on a fresh key.
        assert.deepEqual(await exactBurst(nodes, "after-kill", 5, 12), {
          allowed: 5,
          blocked: 7,
          degraded: 0,
        });
        for (const node of nodes) {
          // One line per transition, however many requests were degraded.
          assert.equal(countLogs(node, "circuit_open"), 1, JSON.stringify(node.logs));
          assert.equal(countLogs(node, "circuit_closed"), 1, JSON.stringify(node.logs));
        }
        const metrics = await (await fetch(`${nodes[0]!.url}/metrics`)).text();
        assert.match(metrics, /ratelimiter_store_up\{node_id="[^"]+"\} 1/);
        assert.match(metrics, /ratelimiter_circuit_state\{node_id="[^"]+"\} 0/);
        assert.match(metrics, /ratelimiter_degraded_decisions_total\{mode="open",[^}]*\} [1-9]/);
        assert.match(metrics, /ratelimiter_store_errors_total\{kind="(connection|timeout)"/);
      });

      await t.step("Redis paused with CLIENT PAUSE longer than the deadline", async () => {
        await underLoad(nodes, "pause", async () => {
          assert.equal(await redis.cli("CLIENT", "PAUSE", "1500", "ALL"), "OK");
          await sleep(1500);
          await waitReady(nodes, 200);
          await sleep(200);
        });
        await assertAlive(nodes);
        assert.deepEqual(await exactBurst(nodes, "after-pause", 5, 12), {
          allowed: 5,
          blocked: 7,
          degraded: 0,
        });
      });

      await t.step("Redis asleep with DEBUG SLEEP longer than the deadline", async () => {
        await underLoad(nodes, "sleep", async () => {
          // redis-cli itself waits for the sleep to end.
          const cli = redis.cli("DEBUG", "SLEEP", "1.5");
          await sleep(1500);
          assert.equal(await cli, "OK");
          await waitReady(nodes, 200);
          await sleep(200);
        });
        await assertAlive(nodes);
        assert.deepEqual(await exactBurst(nodes, "after-sleep", 5, 12), {
          allowed: 5,
          blocked: 7,
          degraded: 0,
        });
      });

      const exits = await Promise.all(nodes.map((n) => n.stop("SIGTERM")));
      assert.deepEqual(exits, [0, 0]);
    } finally {
      await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    }
  },
});

async function timedPost(url: string, body: unknown) {
  const started = performance.now();
  const res = await postJson(url, body);
  return { ...res, ms: performance.now() - started };
}

Deno.test({
  name: "closed and local modes answer their documented shapes while Redis is down",
  ...opts,
  async fn() {
    await using redis: TestRedis = await startRedis();
    const base = {
      RATELIMITER_REDIS_URL: redis.url,
      RATELIMITER_STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
    };
    const [closed, local] = await Promise.all([
      startNode({ env: { ...base, RATELIMITER_FAILURE_MODE: "closed" } }),
      startNode({ env: { ...base, RATELIMITER_FAILURE_MODE: "local" } }),
    ]);
    try {
      // The local node learns how many nodes are live from the registry (here: on listing).
      const listed = await fetch(`${local.url}/api/nodes`).then((r) => r.json());
      assert.equal(listed.nodes.filter((n: { state: string }) => n.state === "Up").length, 2);
      await redis.kill();
      await waitReady([closed, local], 503, 5000);

      for (let i = 0; i < 5; i++) {
        const res = await timedPost(`${closed.url}/check`, { key: "c", limit: 10 });
        assert.equal(res.status, 503);
        assert.equal((res.body.error as { code: string }).code, "store_unavailable");
        assert.equal(res.headers.get("retry-after"), "1");
        assert.ok(res.ms < STORE_TIMEOUT_MS + MARGIN_MS, `closed answered in ${res.ms} ms`);
      }

      const statuses = [];
      for (let i = 0; i < 6; i++) {
        const res = await timedPost(`${local.url}/check`, {
          key: "l",
          limit: 4,
          window_ms: 60_000,
        });
        statuses.push(res.status);
        assert.equal(res.headers.get("x-ratelimit-degraded"), "local");
        assert.equal(res.body.degraded, true);
        assert.ok(res.ms < STORE_TIMEOUT_MS + MARGIN_MS, `local answered in ${res.ms} ms`);
      }
      // Two live nodes: this node enforces ceil(4 / 2) = 2, in process.
      assert.deepEqual(statuses, [200, 200, 429, 429, 429, 429]);

      await redis.restart();
      await waitReady([closed, local], 200);
      const exact = await exactBurst([closed, local], "after", 3, 8);
      assert.deepEqual(exact, { allowed: 3, blocked: 5, degraded: 0 });
    } finally {
      await Promise.all([closed.stop("SIGKILL"), local.stop("SIGKILL")]);
    }
  },
});
