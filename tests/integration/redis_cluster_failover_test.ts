/**
 * Failover under load on a real Redis Cluster of 3 masters and 3 replicas, three real nodes in
 * cluster mode: `kill -9` of one master while checks flow. Every request keeps being answered (no
 * error, no 5xx); keys of the surviving masters stay exact and never degrade; keys of the dead
 * master's slots take the failure mode until its replica is promoted, then are exact again without
 * restarting a node. How long those slots were degraded is printed (a measurement, not asserted).
 *
 * @module
 */
import assert from "node:assert/strict";
import { counterSlot, keysInSlots, keysOnEveryMaster } from "../_helpers/cluster_keys.ts";
import { type LoadResult, runLoad, slowest } from "../_helpers/load.ts";
import { startNodes } from "../_helpers/node_group.ts";
import { postJson, type TestNode } from "../_helpers/node_process.ts";
import { startRedisCluster } from "../_helpers/redis_cluster.ts";
import { sleep } from "../_helpers/wait.ts";
import { integration as opts } from "../_helpers/options.ts";

/** Window and limit of the load: no key reaches the limit, so every exact answer is a 200. */
const LOAD_LIMIT = 10_000;
const LOAD_WINDOW_MS = 3_600_000;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

Deno.test({
  name: "Redis Cluster failover under load: kill -9 of a master degrades only its slots, which " +
    "are exact again once its replica is promoted, with no node restart",
  ...opts,
  async fn() {
    await using cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    const env = { ...cluster.nodeEnv, RATELIMITER_STORE_TIMEOUT_MS: "1000" };
    const nodes = await startNodes([{ env }, { env }, { env }]);
    const urls = nodes.map((n: TestNode) => n.url);
    try {
      const masters = await cluster.masters();
      const victim = masters[1]!;
      const victimSlots = await cluster.slotsOf(victim);
      const keys = await keysOnEveryMaster(cluster, "failover:", 4);
      const affected = new Set(keys.filter((k) => k.master === victim).map((k) => k.key));
      const others = keys.filter((k) => k.master !== victim).map((k) => k.key);

      const controller = new AbortController();
      const body = (client: number, n: number) => ({
        key: keys[(client * 5 + n) % keys.length]!.key,
        limit: LOAD_LIMIT,
        window_ms: LOAD_WINDOW_MS,
      });
      let killedAt = Infinity;
      let promotedAt = Infinity;
      const loading = runLoad({
        urls,
        clients: 6,
        body,
        signal: controller.signal,
        pauseMs: 2,
      });
      let results: LoadResult[] = [];
      try {
        await sleep(2000);
        killedAt = performance.now();
        await cluster.killMaster(victim);
        const heir = await cluster.waitForPromotion(victim, 30_000);
        promotedAt = performance.now();
        assert.notEqual(heir, victim);
        // Load continues until the affected keys have answered exactly for a while.
        await sleep(2000);
      } finally {
        controller.abort();
        results = await loading;
      }

      const failed = results.filter((r) => r.status === 0 || r.status >= 500);
      assert.deepEqual(failed.slice(0, 3), [], `${failed.length} requests failed`);
      const keyOf = (r: LoadResult) => r.body?.key as string;

      // Keys of the surviving masters: never degraded, and every allowed answer counted once.
      const degradedOthers = results.filter((r) => !affected.has(keyOf(r)) && r.degraded);
      assert.equal(
        degradedOthers.length,
        0,
        `keys of live masters answered degraded: ${
          JSON.stringify(
            degradedOthers.slice(0, 2).map((r) => ({
              ...r,
              sinceKillMs: Math.round(r.startedAt - killedAt),
              promotedAfterKillMs: Math.round(promotedAt - killedAt),
            })),
          )
        }; breaker events: ${
          JSON.stringify(
            nodes.flatMap((n) => n.logs.filter((l) => String(l.event).startsWith("circuit_")))
              .slice(0, 6),
          )
        }`,
      );
      for (const key of others) {
        const allowed = results.filter((r) => keyOf(r) === key && r.status === 200).length;
        const res = await fetch(
          `${urls[0]}/check/${
            encodeURIComponent(key)
          }?limit=${LOAD_LIMIT}&window_ms=${LOAD_WINDOW_MS}`,
        );
        const state = await res.json();
        assert.equal(state.current_count, allowed, `${key}: counted ${state.current_count}`);
      }

      // Keys of the dead master's slots: degraded for a while, exact again at the end.
      const mine = results.filter((r) => affected.has(keyOf(r)));
      const degraded = mine.filter((r) => r.degraded !== null);
      assert.ok(degraded.length > 0, "no answer for the dead master's keys was degraded");
      const lastDegraded = Math.max(...degraded.map((r) => r.endedAt));
      const firstDegraded = Math.min(...degraded.map((r) => r.startedAt));
      const after = mine.filter((r) => r.startedAt > lastDegraded);
      assert.ok(after.length > 0, "the dead master's keys never answered exactly again");
      assert.ok(after.every((r) => r.status === 200 && r.degraded === null));

      // Fresh keys of those slots, after the promotion: exact, on the same node processes.
      const fresh = keysInSlots("after-failover:", 3, victimSlots);
      // Algorithms whose state a window boundary cannot reset mid-test (1 h window, limit 8).
      const algorithms = ["sliding_log", "token_bucket", "gcra"] as const;
      for (const [n, { key, slot }] of fresh.entries()) {
        const algorithm = algorithms[n % algorithms.length]!;
        assert.equal(counterSlot(key, algorithm), slot);
        const replies = await Promise.all(
          Array.from(
            { length: 24 },
            (_, i) =>
              postJson(`${urls[i % 3]}/check`, {
                key,
                limit: 8,
                window_ms: LOAD_WINDOW_MS,
                algorithm,
              }),
          ),
        );
        assert.deepEqual(
          [
            replies.filter((r) => r.status === 200).length,
            replies.filter((r) => r.body.degraded)
              .length,
          ],
          [8, 0],
          `${algorithm} ${key}`,
        );
      }
      // The counters listing pages across the masters as they are now (the promoted replica in
      // place of the dead master): every key of the load listed once.
      const listed: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 1000; page++) {
        const query = new URLSearchParams({ limit: "5", prefix: "failover:" });
        if (cursor !== null) query.set("cursor", cursor);
        const res = await fetch(`${urls[2]}/api/counters?${query}`);
        const body = await res.json();
        assert.equal(res.status, 200, JSON.stringify(body));
        listed.push(...(body.counters as { key: string }[]).map((c) => c.key));
        cursor = body.next_cursor;
        if (cursor === null) break;
      }
      assert.deepEqual(listed.sort(), keys.map((k) => k.key).sort());

      for (const node of nodes) {
        const exited = await Promise.race([
          node.status.then(() => true),
          sleep(0).then(() => false),
        ]);
        assert.equal(exited, false, `node ${node.url} exited`);
      }

      const latencies = results.map((r) => r.endedAt - r.startedAt);
      console.log(
        `cluster failover: ${results.length} checks; dead master's slots degraded ` +
          `${Math.round(lastDegraded - firstDegraded)} ms (first degraded answer ` +
          `+${Math.round(firstDegraded - killedAt)} ms after kill -9, last +` +
          `${Math.round(lastDegraded - killedAt)} ms; harness saw the promotion at +` +
          `${Math.round(promotedAt - killedAt)} ms); ${degraded.length} of ${mine.length} of ` +
          `their answers degraded; latency p50 ${percentile(latencies, 0.5).toFixed(1)} ms, ` +
          `p99 ${percentile(latencies, 0.99).toFixed(1)} ms, max ${slowest(results).toFixed(0)} ms`,
      );
    } finally {
      await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    }
  },
});
