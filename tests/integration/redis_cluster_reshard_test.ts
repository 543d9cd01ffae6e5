/**
 * Resharding under load on a real 3-master Redis Cluster, three real nodes in cluster mode: slots
 * holding the checked keys are migrated twice with `redis-cli --cluster reshard` (MIGRATE of live
 * keys, ASK and TRYAGAIN on the way) while checks flow. No request fails or gets a 5xx, none is
 * answered by the failure mode, and every answer is right: each counter holds exactly the allowed
 * checks, and keys hammered past their limit allow exactly the limit, multi-limit checks included.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ALGORITHMS } from "../../src/limiter/types.ts";
import { counterSlot, keysInSlots } from "../_helpers/cluster_keys.ts";
import { type LoadResult, runLoad } from "../_helpers/load.ts";
import { startNodes } from "../_helpers/node_group.ts";
import type { TestNode } from "../_helpers/node_process.ts";
import { keySlot, startRedisCluster } from "../_helpers/redis_cluster.ts";
import { integration as opts } from "../_helpers/options.ts";

/** Slots moved by each reshard: the lowest of the source master. */
const MOVED_SLOTS = 1500;

/** Keys written beside each checked counter, in its slot, to lengthen that slot's migration. */
const FILLERS_PER_SLOT = 300;

/**
 * A window of about 30 days whose epoch-aligned boundary is more than five minutes away, so fixed
 * and sliding windows cannot roll over during the test and token refill is negligible.
 */
function windowAwayFromBoundary(): number {
  for (let window = 2_592_000_000;; window -= 1_000_000) {
    const into = Date.now() % window;
    if (into > 300_000 && window - into > 300_000) return window;
  }
}

Deno.test({
  name: "Redis Cluster resharding under load: slots migrated twice with redis-cli while checks " +
    "flow; no failed, degraded or wrong answer",
  ...opts,
  async fn() {
    await using cluster = await startRedisCluster({ masters: 3 });
    const window = windowAwayFromBoundary();
    const env = {
      ...cluster.nodeEnv,
      RATELIMITER_STORE_TIMEOUT_MS: "2000",
      RATELIMITER_MAX_WINDOW_MS: "2592000000",
    };
    const nodes = await startNodes([{ env }, { env }, { env }]);
    const urls = nodes.map((n: TestNode) => n.url);
    try {
      const [a, b, c] = await cluster.masters() as [
        (typeof cluster.nodes)[number],
        (typeof cluster.nodes)[number],
        (typeof cluster.nodes)[number],
      ];
      const moving = [
        [
          (await cluster.slotsOf(a))[0]![0],
          (await cluster.slotsOf(a))[0]![0] +
          MOVED_SLOTS - 1,
        ] as const,
      ];
      const staying = [[MOVED_SLOTS, 16383] as const];
      // Counted keys (a limit never reached): every allowed answer must be counted once.
      const counted = [
        ...keysInSlots("move:", 12, moving),
        ...keysInSlots("stay:", 3, staying),
      ].map((k) => k.key);
      // Hammered keys: exactly their limit allowed, every algorithm.
      const hammered = keysInSlots("hammer:", ALGORITHMS.length, moving).map((k, i) => ({
        key: k.key,
        limit: 20,
        window_ms: window,
        algorithm: ALGORITHMS[i]!,
      }));
      // Multi-limit checks on tags that move: exactly 15 allowed, both limits consumed 15 times.
      const tags = keysInSlots("tag", 3, moving).map((k) => k.key);
      const bodies: Record<string, unknown>[] = [
        ...counted.map((key) => ({ key, limit: 10_000, window_ms: 3_600_000 })),
        ...hammered,
        ...tags.map((tag) => ({
          limits: [
            { key: `{${tag}}:a`, limit: 15, window_ms: window, algorithm: "sliding_log" },
            { key: `{${tag}}:b`, limit: 1000, window_ms: window, algorithm: "gcra" },
          ],
        })),
      ];

      // Filler keys beside every checked counter, so each of those slots takes many MIGRATE
      // batches to move and the checked keys spend time on the target before their slot is
      // handed over: checks then meet ASK redirects (counted below), not just MOVED.
      const checkedSlots = new Set([
        ...counted.map((key) => counterSlot(key)),
        ...hammered.map((h) => counterSlot(h.key, h.algorithm)),
        ...tags.map((tag) => counterSlot(`{${tag}}:a`)),
      ]);
      for (const slot of checkedSlots) {
        const owner = await cluster.ownerOfSlot(slot);
        let tag = 0;
        while (keySlot(`{f${tag}}`) !== slot) tag++;
        for (let i = 0; i < FILLERS_PER_SLOT; i += 100) {
          const args = Array.from({ length: 100 }, (_, j) => [`{f${tag}}:${i + j}`, "x"]).flat();
          assert.equal(await owner.cli("MSET", ...args), "OK");
        }
      }

      const controller = new AbortController();
      const loading = runLoad({
        urls,
        clients: 6,
        body: (client, n) => bodies[(client * 7 + n) % bodies.length],
        signal: controller.signal,
        pauseMs: 2,
      });
      let results: LoadResult[] = [];
      const timings: string[] = [];
      try {
        await new Promise((r) => setTimeout(r, 1000));
        let started = performance.now();
        await cluster.reshard(a, b, MOVED_SLOTS);
        timings.push(`${a.port}→${b.port} ${Math.round(performance.now() - started)} ms`);
        // The moved slots are now b's lowest: move them on to c.
        started = performance.now();
        await cluster.reshard(b, c, MOVED_SLOTS);
        timings.push(`${b.port}→${c.port} ${Math.round(performance.now() - started)} ms`);
        await new Promise((r) => setTimeout(r, 1000));
      } finally {
        controller.abort();
        results = await loading;
      }
      const [lo, hi] = moving[0]!;
      for (let slot = lo; slot <= hi; slot += 499) {
        assert.equal(await cluster.ownerOfSlot(slot), c, `slot ${slot} did not reach ${c.port}`);
      }

      const bad = results.filter((r) =>
        r.status === 0 || r.status >= 500 || r.degraded !== null ||
        (r.status !== 200 && r.status !== 429)
      );
      assert.deepEqual(bad.slice(0, 3), [], `${bad.length} failed or degraded answers`);
      const keyOf = (r: LoadResult) => r.body?.key as string;
      const allowedOf = (key: string) =>
        results.filter((r) => keyOf(r) === key && r.status === 200).length;
      const peek = async (key: string, query: Record<string, string>) => {
        const res = await fetch(
          `${urls[1]}/check/${encodeURIComponent(key)}?${new URLSearchParams(query)}`,
        );
        return (await res.json()).current_count as number;
      };
      for (const key of counted) {
        assert.equal(
          await peek(key, { limit: "10000", window_ms: "3600000" }),
          allowedOf(key),
          key,
        );
      }
      for (const h of hammered) {
        const sent = results.filter((r) => keyOf(r) === h.key).length;
        assert.ok(sent > h.limit, `${h.key}: only ${sent} checks`);
        assert.equal(allowedOf(h.key), h.limit, `${h.algorithm} ${h.key}`);
      }
      for (const tag of tags) {
        assert.equal(allowedOf(`{${tag}}:a`), 15, tag);
        assert.equal(
          await peek(`{${tag}}:b`, {
            limit: "1000",
            window_ms: String(window),
            algorithm: "gcra",
          }),
          15,
          tag,
        );
      }
      let asking = 0;
      for (const master of [b, c]) {
        const stats = await master.cli("INFO", "commandstats");
        asking += Number(/^cmdstat_asking:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
      }
      console.log(
        `cluster reshard under load: ${results.length} checks, ${MOVED_SLOTS} slots moved twice ` +
          `(${timings.join(", ")}), ${FILLERS_PER_SLOT} filler keys beside each checked key; ` +
          `ASK redirects followed (ASKING on the targets): ${asking}`,
      );
    } finally {
      await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    }
  },
});
