/**
 * Three real nodes (`main.ts`, `RATELIMITER_REDIS_MODE=cluster`) on a real 3-master Redis
 * Cluster: with keys spread over every master, concurrent checks are exact for every algorithm,
 * in batches and in multi-limit checks, and the management API sees the whole cluster (counters
 * paged across masters, overrides and resets made on one node applied on the others).
 *
 * @module
 */
import assert from "node:assert/strict";
import { ALGORITHM_CODES, ALGORITHMS } from "../../src/limiter/types.ts";
import { counterKey, DEFAULT_KEY_PREFIX } from "../../src/store/keys.ts";
import { counterSlot, keysOnEveryMaster } from "../_helpers/cluster_keys.ts";
import { startNodes } from "../_helpers/node_group.ts";
import { postJson, type TestNode } from "../_helpers/node_process.ts";
import { keySlot, startRedisCluster } from "../_helpers/redis_cluster.ts";
import { waitFor } from "../_helpers/wait.ts";
import { integration as opts } from "../_helpers/options.ts";

const TOKEN = "cluster-exact-token-0123456789";
const AUTH = { authorization: `Bearer ${TOKEN}` };
type Json = Record<string, unknown>;

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

async function api(node: TestNode, method: string, path: string, body?: unknown) {
  const init: RequestInit = { method, headers: AUTH };
  if (body !== undefined) {
    init.headers = { "content-type": "application/json", ...AUTH };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`${node.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: (text === "" ? {} : JSON.parse(text)) as Json };
}

async function peek(node: TestNode, key: string, query: Record<string, string>) {
  const res = await fetch(
    `${node.url}/check/${encodeURIComponent(key)}?${new URLSearchParams(query)}`,
  );
  return await res.json() as Json;
}

/** Every counter the listing shows, following `next_cursor` with pages of `limit`. */
async function pageThrough(node: TestNode, what: "counters" | "blocks", prefix: string) {
  const seen: Json[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 10_000; page++) {
    const query = new URLSearchParams({ limit: "7", prefix });
    if (cursor !== null) query.set("cursor", cursor);
    const { status, body } = await api(node, "GET", `/api/${what}?${query}`);
    assert.equal(status, 200, JSON.stringify(body));
    seen.push(...(body[what === "counters" ? "counters" : "blocked"] as Json[]));
    cursor = body.next_cursor as string | null;
    if (cursor === null) return seen;
  }
  throw new Error("The listing never ended");
}

Deno.test({
  name: "three nodes on a 3-master Redis Cluster: exact for every algorithm, batch and " +
    "multi-limit on keys of every master; counters, overrides and resets across the cluster",
  ...opts,
  async fn(t) {
    await using cluster = await startRedisCluster({ masters: 3 });
    const masters = await cluster.masters();
    const env = {
      ...cluster.nodeEnv,
      // Atomicity, not outages: a generous deadline keeps a loaded machine from answering in
      // the (inexact) failure mode.
      RATELIMITER_STORE_TIMEOUT_MS: "5000",
      RATELIMITER_MAX_WINDOW_MS: "2592000000",
      RATELIMITER_ADMIN_TOKEN: TOKEN,
      RATELIMITER_NODE_TTL_SECONDS: "2",
      RATELIMITER_NODE_HEARTBEAT_SECONDS: "1",
    };
    const nodes = await startNodes(
      [1, 2, 3].map((i) => ({ env: { ...env, RATELIMITER_NODE_ID: `cluster-node-${i}` } })),
    );
    const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
    const window = windowAwayFromBoundary();
    const created: { key: string; algorithm: string }[] = [];
    try {
      const keys = await keysOnEveryMaster(cluster, "exact:", 2);

      await t.step("the chosen keys' counters hash to every master (CLUSTER KEYSLOT)", async () => {
        for (const { key, slot, master } of keys) {
          const name = counterKey(DEFAULT_KEY_PREFIX, "gcra", key);
          assert.equal(Number(await master.cli("CLUSTER", "KEYSLOT", name)), slot, name);
          assert.equal(await cluster.ownerOfSlot(slot), master);
        }
        assert.equal(new Set(keys.map((k) => k.master)).size, 3);
      });

      for (const algorithm of ALGORITHMS) {
        await t.step(
          `${algorithm}: 24 concurrent checks per key, limit 8 → exactly 8`,
          async () => {
            const replies = await Promise.all(
              keys.flatMap(({ key }) =>
                Array.from({ length: 24 }, (_, i) =>
                  postJson(`${nodes[i % 3]!.url}/check`, {
                    key,
                    limit: 8,
                    window_ms: window,
                    algorithm,
                  }).then((r) => ({ key, ...r })))
              ),
            );
            for (const { key } of keys) {
              const mine = replies.filter((r) => r.key === key);
              const statuses = mine.map((r) => r.status);
              assert.deepEqual(
                [
                  statuses.filter((s) => s === 200).length,
                  statuses.filter((s) => s === 429).length,
                ],
                [8, 16],
                `${key}: ${JSON.stringify(mine.find((r) => r.status !== 200 && r.status !== 429))}`,
              );
              assert.ok(mine.every((r) => r.body.degraded !== true), `${key} degraded`);
              const state = await peek(n2, key, {
                limit: "8",
                window_ms: String(window),
                algorithm,
              });
              assert.equal(state.current_count, 8, key);
              created.push({ key, algorithm });
            }
          },
        );
      }

      await t.step("every master holds counters of every algorithm (DBSIZE, SCAN)", async () => {
        for (const master of masters) {
          for (const algorithm of ALGORITHMS) {
            const found = await master.cli(
              "--scan",
              "--pattern",
              `${DEFAULT_KEY_PREFIX}:${ALGORITHM_CODES[algorithm]}:{exact:*`,
            );
            assert.equal(found.split("\n").filter(Boolean).length, 2, `${master.address}`);
          }
        }
      });

      await t.step(
        "batches: 20 concurrent batches over keys of every master → exactly 7 each",
        async () => {
          const batchKeys = await keysOnEveryMaster(cluster, "batch:", 2);
          const checks = batchKeys.map(({ key }, i) => ({
            key,
            limit: 7,
            window_ms: window,
            algorithm: ALGORITHMS[i % ALGORITHMS.length],
          }));
          const replies = await Promise.all(
            Array.from(
              { length: 20 },
              (_, i) => postJson(`${nodes[i % 3]!.url}/check/batch`, { checks }),
            ),
          );
          const allowed = new Map<string, number>();
          for (const reply of replies) {
            assert.equal(reply.status, 200, JSON.stringify(reply.body));
            const results = reply.body.results as Json[];
            assert.deepEqual(
              results.map((r) => r.key),
              checks.map((c) => c.key),
              "answer order",
            );
            for (const r of results) {
              assert.notEqual(r.degraded, true);
              if (r.status === 200) {
                allowed.set(r.key as string, (allowed.get(r.key as string) ?? 0) + 1);
              }
            }
          }
          for (const { key, algorithm } of checks) {
            assert.equal(allowed.get(key), 7, key);
            created.push({ key, algorithm: algorithm! });
          }
        },
      );

      await t.step(
        "multi-limit: tags on every master, 20 concurrent → exactly 6, nothing consumed by denials",
        async () => {
          const tags = await keysOnEveryMaster(cluster, "tag", 1);
          for (const { key: tag, master } of tags) {
            const name = counterKey(DEFAULT_KEY_PREFIX, "sliding_log", `{${tag}}:user`);
            assert.equal(await cluster.ownerOfSlot(keySlot(name)), master);
          }
          await Promise.all(tags.map(async ({ key: tag }) => {
            const limits = [
              { key: `{${tag}}:user`, limit: 6, window_ms: window, algorithm: "sliding_log" },
              { key: `{${tag}}:ip`, limit: 100, window_ms: window, algorithm: "gcra" },
              { key: `{${tag}}:day`, limit: 100, window_ms: window, algorithm: "fixed_window" },
            ];
            const replies = await Promise.all(
              Array.from(
                { length: 20 },
                (_, i) => postJson(`${nodes[i % 3]!.url}/check`, { limits }),
              ),
            );
            assert.equal(
              replies.filter((r) => r.status === 200).length,
              6,
              tag,
            );
            assert.equal(replies.filter((r) => r.status === 429).length, 14, tag);
            for (const r of replies.filter((r) => r.status === 429)) {
              assert.equal(r.body.denied_key, `{${tag}}:user`);
            }
            for (const limit of limits) {
              const state = await peek(n3, limit.key, {
                limit: String(limit.limit),
                window_ms: String(window),
                algorithm: limit.algorithm,
              });
              assert.equal(state.current_count, 6, limit.key);
              created.push({ key: limit.key, algorithm: limit.algorithm });
            }
          }));
        },
      );

      await t.step(
        "multi-limit keys of two slots are refused with the documented 400",
        async () => {
          const a = keys[0]!;
          const b = keys.find((k) => k.master !== a.master)!;
          assert.notEqual(counterSlot(a.key), counterSlot(b.key));
          const reply = await postJson(`${n1.url}/check`, {
            limits: [{ key: a.key }, { key: b.key }],
          });
          assert.equal(reply.status, 400, JSON.stringify(reply.body));
          assert.match(JSON.stringify(reply.body), /limits\.1\.key/);
        },
      );

      await t.step(
        "/api/counters pages across every master: every counter exactly once",
        async () => {
          for (const node of nodes) {
            const listed = (await pageThrough(node, "counters", "")).map((c) =>
              `${c.algorithm} ${c.key}`
            );
            assert.equal(new Set(listed).size, listed.length, "a counter listed twice");
            assert.deepEqual(
              [...listed].sort(),
              created.map((c) => `${c.algorithm} ${c.key}`).sort(),
            );
          }
          // Prefixes select across masters too.
          const batches = await pageThrough(n2, "counters", "batch:");
          assert.equal(batches.length, 6);
        },
      );

      await t.step(
        "/api/blocks pages across every master: every blocked key exactly once",
        async () => {
          const blocked = (await pageThrough(n1, "blocks", "exact:")).map((b) =>
            `${b.algorithm} ${b.key}`
          );
          assert.equal(new Set(blocked).size, blocked.length);
          assert.deepEqual(
            [...blocked].sort(),
            created.filter((c) => c.key.startsWith("exact:")).map((c) => `${c.algorithm} ${c.key}`)
              .sort(),
          );
        },
      );

      await t.step("an override set through node 1 applies on nodes 2 and 3", async () => {
        const { key } = (await keysOnEveryMaster(cluster, "ovr:", 1))[0]!;
        const put = await api(n1, "PUT", `/api/limits/${encodeURIComponent(key)}`, {
          limit: 3,
          window_ms: window,
        });
        assert.equal(put.status, 200, JSON.stringify(put.body));
        for (const node of [n2, n3]) {
          await waitFor(
            `${node.url} to apply the override`,
            async () => {
              const state = await peek(node, key, { limit: "50" });
              return state.limit === 3;
            },
            10_000,
            50,
          );
        }
        const replies = await Promise.all(
          Array.from(
            { length: 12 },
            (_, i) => postJson(`${(i % 2 ? n2 : n3).url}/check`, { key, limit: 50 }),
          ),
        );
        assert.equal(
          replies.filter((r) => r.status === 200).length,
          3,
        );
      });

      await t.step(
        "a reset through node 1 unblocks the key on node 2 (event across the cluster)",
        async () => {
          const key = keys[keys.length - 1]!.key;
          // Node 2 learns the block from Redis and keeps it in its over-limit cache.
          const body = { key, limit: 8, window_ms: window, algorithm: "sliding_log" };
          assert.equal((await postJson(`${n2.url}/check`, body)).status, 429);
          assert.equal((await postJson(`${n2.url}/check`, body)).status, 429);
          const reset = await api(n1, "POST", `/api/counters/${encodeURIComponent(key)}/reset`);
          assert.deepEqual(reset.body, { key, reset: true });
          // Only the counter_reset event can drop node 2's 30-day block.
          await waitFor(
            "node 2 to allow the reset key",
            async () => {
              return (await postJson(`${n2.url}/check`, body)).status === 200;
            },
            10_000,
            50,
          );
          const replies = await Promise.all(
            Array.from({ length: 12 }, () => postJson(`${n2.url}/check`, body)),
          );
          assert.equal(replies.filter((r) => r.status === 200).length, 7);
        },
      );
    } finally {
      await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    }
  },
});
