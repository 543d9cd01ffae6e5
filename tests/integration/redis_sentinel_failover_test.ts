/**
 * Redis Sentinel under load: a master, a replica and three real sentinels, three real nodes in
 * sentinel mode. Through a `SENTINEL FAILOVER`, a `kill -9` of the master, and a failover after
 * every sentinel was down (the master still served exactly meanwhile) and restarted, every request
 * keeps being answered (no error, no 5xx), and the nodes follow the new master and answer exactly
 * again without a restart. How long answers were degraded each time is printed (a measurement,
 * not asserted).
 *
 * @module
 */
import assert from "node:assert/strict";
import { type LoadResult, runLoad, slowest } from "../_helpers/load.ts";
import { startNodes } from "../_helpers/node_group.ts";
import { postJson, type TestNode } from "../_helpers/node_process.ts";
import type { RedisProcess } from "../_helpers/redis_process.ts";
import { startRedisSentinel } from "../_helpers/redis_sentinel.ts";
import { sleep, waitFor } from "../_helpers/wait.ts";
import { integration as opts } from "../_helpers/options.ts";

const WINDOW_MS = 3_600_000;

/** Keys the load spreads over (a limit they never reach). */
const LOAD_KEYS = Array.from({ length: 12 }, (_, i) => `sentinel-load:${i}`);

/**
 * Runs a load through `fault`, until `settleMs` after it every answer is exact; returns the
 * results and a one-line summary of the degraded period.
 */
async function underLoad(
  urls: string[],
  label: string,
  fault: () => Promise<RedisProcess>,
): Promise<{ results: LoadResult[]; master: RedisProcess; summary: string }> {
  const controller = new AbortController();
  const loading = runLoad({
    urls,
    clients: 6,
    body: (client, n) => ({
      key: LOAD_KEYS[(client * 5 + n) % LOAD_KEYS.length],
      limit: 10_000,
      window_ms: WINDOW_MS,
    }),
    signal: controller.signal,
    pauseMs: 2,
  });
  let results: LoadResult[] = [];
  let master: RedisProcess;
  const faultAt = performance.now();
  let doneAt = faultAt;
  try {
    await sleep(1000);
    master = await fault();
    doneAt = performance.now();
    // Exact answers from every node again, for a second, before the load stops.
    let exactSince = Infinity;
    await waitFor(
      `${label}: the nodes to answer exactly again`,
      async () => {
        const probes = await Promise.all(urls.map((url) =>
          postJson(`${url}/check`, {
            key: "sentinel-probe",
            limit: 1_000_000,
            window_ms: WINDOW_MS,
            algorithm: "fixed_window",
          })
        ));
        if (probes.some((p) => p.status !== 200 || p.body.degraded)) exactSince = Infinity;
        else exactSince = Math.min(exactSince, performance.now());
        return performance.now() - exactSince > 1000;
      },
      30_000,
      50,
    );
  } finally {
    controller.abort();
    results = await loading;
  }
  const failed = results.filter((r) => r.status === 0 || r.status >= 500);
  assert.deepEqual(failed.slice(0, 3), [], `${label}: ${failed.length} requests failed`);
  const degraded = results.filter((r) => r.degraded !== null);
  const last = results.filter((r) => r.startedAt > Math.max(0, ...degraded.map((r) => r.endedAt)));
  assert.ok(last.length > 0 && last.every((r) => r.status === 200), `${label}: never exact again`);
  const summary = degraded.length === 0
    ? `${label}: ${results.length} checks, none degraded (new master after ` +
      `${Math.round(doneAt - faultAt - 1000)} ms)`
    : `${label}: ${results.length} checks, ${degraded.length} degraded over ` +
      `${
        Math.round(
          Math.max(...degraded.map((r) => r.endedAt)) -
            Math.min(...degraded.map((r) => r.startedAt)),
        )
      } ms (new master named after ${Math.round(doneAt - faultAt - 1000)} ms); max latency ` +
      `${slowest(results).toFixed(0)} ms`;
  return { results, master: master!, summary };
}

/** 24 concurrent checks of a fresh key with limit 8 across the nodes → exactly 8, none degraded. */
async function assertExact(urls: string[], key: string): Promise<void> {
  const replies = await Promise.all(
    Array.from(
      { length: 24 },
      (_, i) => postJson(`${urls[i % urls.length]}/check`, { key, limit: 8, window_ms: WINDOW_MS }),
    ),
  );
  assert.deepEqual(
    [
      replies.filter((r) => r.status === 200).length,
      replies.filter((r) => r.body.degraded === true).length,
    ],
    [8, 0],
    key,
  );
}

Deno.test({
  name: "Redis Sentinel under load: SENTINEL FAILOVER, kill -9 of the master and a failover " +
    "after all sentinels restart; answers keep coming and are exact on each new master",
  ...opts,
  async fn(t) {
    await using sentinel = await startRedisSentinel();
    const env = { ...sentinel.nodeEnv, RATELIMITER_STORE_TIMEOUT_MS: "1000" };
    // One at a time: three Deno starts at once on a small shared machine can take seconds, and
    // the faults below are what this test is about.
    const nodes = await startNodes([{ env }, { env }, { env }], { sequential: true });
    const summaries: string[] = [];
    try {
      const urls = nodes.map((n: TestNode) => n.url);
      await t.step("exact before any fault", () => assertExact(urls, "sentinel-exact:0"));

      await t.step("SENTINEL FAILOVER under load", async () => {
        const old = await sentinel.master();
        const { master, summary } = await underLoad(
          urls,
          "SENTINEL FAILOVER",
          () => sentinel.failover(),
        );
        assert.notEqual(master, old);
        summaries.push(summary);
        await assertExact(urls, "sentinel-exact:1");
        // The counter lives on the new master.
        assert.equal(await master.cli("EXISTS", "rl:sl:{sentinel-exact:1}"), "1");
      });

      let killed: RedisProcess | undefined;
      await t.step("kill -9 of the master under load", async () => {
        // The old master rejoins as a replica (sentinels convert it within ~10 s): wait here so
        // the time measured below is the failover's alone.
        await sentinel.waitForAgreement();
        const { master, summary } = await underLoad(urls, "kill -9 of the master", async () => {
          const outcome = await sentinel.killMaster();
          killed = outcome.killed;
          return outcome.promoted;
        });
        summaries.push(summary);
        await assertExact(urls, "sentinel-exact:2");
        assert.equal(await master.cli("EXISTS", "rl:sl:{sentinel-exact:2}"), "1");
      });

      await t.step(
        "every sentinel down then restarted, then a failover: the nodes follow",
        async () => {
          await killed!.restart(); // back as a replica, so there is one to fail over to
          await sentinel.waitForAgreement();
          // With every sentinel down the master is still served, exactly.
          await Promise.all(sentinel.sentinels.map((s) => s.kill()));
          await sleep(1500); // past the nodes' 1 s sentinel poll
          await assertExact(urls, "sentinel-exact:no-sentinels");
          await sentinel.restartSentinels();
          await sentinel.waitForAgreement();
          await assertExact(urls, "sentinel-exact:3");
          const old = await sentinel.master();
          const { master, summary } = await underLoad(
            urls,
            "failover after all sentinels restarted",
            () => sentinel.failover(),
          );
          assert.notEqual(master, old);
          summaries.push(summary);
          await assertExact(urls, "sentinel-exact:4");
          assert.equal(await master.cli("EXISTS", "rl:sl:{sentinel-exact:4}"), "1");
        },
      );

      for (const node of nodes) {
        const exited = await Promise.race([
          node.status.then(() => true),
          sleep(0).then(() => false),
        ]);
        assert.equal(exited, false, `node ${node.url} exited`);
      }
      console.log(`sentinel: ${summaries.join("; ")}`);
    } finally {
      await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    }
  },
});
