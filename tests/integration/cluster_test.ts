import assert from "node:assert/strict";
import { createRedisClient } from "../../src/redis/client.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { postJson, startNode, type TestNode } from "../_helpers/node_process.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { waitFor } from "../_helpers/wait.ts";
import { integration as opts } from "../_helpers/options.ts";

const TOKEN = "cluster-test-token-0123456789";
const AUTH = { authorization: `Bearer ${TOKEN}` };

type Json = Record<string, unknown>;

async function api(
  node: TestNode,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = AUTH,
): Promise<{ status: number; body: Json }> {
  const init: RequestInit = { method, headers };
  if (body !== undefined) {
    init.headers = { "content-type": "application/json", ...headers };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`${node.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: text === "" ? {} : JSON.parse(text) };
}

/** Longest a node whose id is taken may take to exit: a start of Deno plus one Redis round trip. */
const DUPLICATE_EXIT_MS = 20_000;

/** The exit status of `node` if it exits within `ms`, else `undefined` (it is left running). */
async function exitWithin(node: TestNode, ms: number): Promise<Deno.CommandStatus | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([node.status, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function nodeStates(node: TestNode): Promise<Record<string, string>> {
  const { status, body } = await api(node, "GET", "/api/nodes");
  assert.equal(status, 200, JSON.stringify(body));
  return Object.fromEntries((body.nodes as Json[]).map((n) => [n.id, n.state]));
}

Deno.test({
  name: "three main.ts nodes on one Redis share nodes, overrides, counters, blocks and resets",
  ...opts,
  async fn(t) {
    await using redis = await startRedis();
    const env = (id: string) => ({
      RATELIMITER_REDIS_URL: redis.url,
      RATELIMITER_STORE_TIMEOUT_MS: "5000",
      RATELIMITER_NODE_ID: id,
      RATELIMITER_NODE_TTL_SECONDS: "2",
      RATELIMITER_NODE_HEARTBEAT_SECONDS: "1",
      RATELIMITER_ADMIN_TOKEN: TOKEN,
    });
    const nodes = await Promise.all(
      ["node-1", "node-2", "node-3"].map((id) => startNode({ env: env(id) })),
    );
    const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
    try {
      await t.step("each node lists all three Up, with their addresses", async () => {
        for (const node of nodes) {
          const { body } = await api(node, "GET", "/api/nodes");
          const listed = body.nodes as Json[];
          assert.deepEqual(listed.map((n) => [n.id, n.address, n.state]), [
            ["node-1", `127.0.0.1:${n1.port}`, "Up"],
            ["node-2", `127.0.0.1:${n2.port}`, "Up"],
            ["node-3", `127.0.0.1:${n3.port}`, "Up"],
          ]);
          assert.equal(listed.filter((n) => n.self).length, 1);
        }
      });

      await t.step(
        "a node whose id a live node holds exits 1 naming the id and address",
        async () => {
          const dup = await startNode({ env: env("node-1"), waitReady: false });
          try {
            // Bounded: a broken duplicate check must fail this step, not hang the suite.
            const status = await exitWithin(dup, DUPLICATE_EXIT_MS);
            assert.ok(
              status !== undefined,
              `the duplicate node still runs after ${DUPLICATE_EXIT_MS} ms: ${
                JSON.stringify(dup.logs)
              }`,
            );
            assert.equal(status.code, 1);
          } finally {
            await dup.stop("SIGKILL");
          }
          const line = dup.logs.find((l) => l.event === "node_id_conflict");
          assert.ok(line, JSON.stringify(dup.logs));
          assert.match(String(line.message), /"node-1"/);
          assert.match(String(line.message), new RegExp(`127\\.0\\.0\\.1:${n1.port}`));
          assert.equal(dup.logs.some((l) => l.event === "listening"), false);
          assert.deepEqual(Object.keys(await nodeStates(n1)), ["node-1", "node-2", "node-3"]);
        },
      );

      await t.step(
        "an override set through node 1 is enforced exactly through nodes 2 and 3",
        async () => {
          const key = "tenant/42 {api}:é";
          const path = `/api/limits/${encodeURIComponent(key)}`;
          const set = await api(n1, "PUT", path, { limit: 3, window_ms: 60_000 });
          assert.equal(set.status, 200, JSON.stringify(set.body));
          assert.equal(set.body.updated, true);
          // The documented bound: every node applies a change within one second.
          await new Promise((r) => setTimeout(r, 1000));
          const answers = [];
          for (let i = 0; i < 8; i++) {
            answers.push(await postJson(`${[n2, n3][i % 2]!.url}/check`, { key, limit: 100 }));
          }
          assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 429, 429, 429, 429, 429]);
          for (const a of answers) assert.equal(a.body.limit, 3);
          for (const node of nodes) {
            const listed = (await api(node, "GET", "/api/limits")).body.overrides as Json[];
            assert.deepEqual(listed.map((o) => [o.key, o.limit, o.window_ms]), [[key, 3, 60_000]]);
          }
          assert.equal((await api(n1, "DELETE", path)).status, 200);
          await new Promise((r) => setTimeout(r, 1000));
          for (const node of [n2, n3]) {
            const after = await postJson(`${node.url}/check`, { key, limit: 100 });
            assert.equal(after.status, 200);
            assert.equal(after.body.limit, 100, "the request's own limit applies again");
          }
          assert.equal((await api(n3, "DELETE", path)).status, 404);
        },
      );

      await t.step("counters and blocks agree with /check on every node", async () => {
        const full = [];
        for (const node of [n1, n2, n3]) {
          full.push(await postJson(`${node.url}/check`, { key: "c:full", limit: 2 }));
        }
        assert.deepEqual(full.map((a) => a.status), [200, 200, 429]);
        const half = await postJson(`${n2.url}/check`, { key: "c:half", limit: 5 });
        for (const node of nodes) {
          const { body } = await api(node, "GET", "/api/counters?prefix=c%3A");
          const byKey = Object.fromEntries((body.counters as Json[]).map((c) => [c.key, c]));
          assert.deepEqual(Object.keys(byKey).sort(), ["c:full", "c:half"]);
          assert.equal(byKey["c:full"]!.count, 2);
          assert.equal(byKey["c:full"]!.remaining, 0);
          assert.equal(byKey["c:full"]!.limit, 2);
          assert.equal(byKey["c:half"]!.count, half.body.current_count);
          assert.equal(byKey["c:half"]!.remaining, half.body.remaining);
          const blocked = (await api(node, "GET", "/api/blocks?prefix=c%3A")).body
            .blocked as Json[];
          assert.deepEqual(blocked.map((b) => [b.key, b.current_count, b.limit]), [[
            "c:full",
            2,
            2,
          ]]);
          assert.ok(Number(blocked[0]!.retry_after_seconds) >= 1);
        }
      });

      await t.step("a reset through one node is seen by all", async () => {
        const reset = await api(n2, "POST", "/api/counters/c%3Afull/reset");
        assert.deepEqual(reset.body, { key: "c:full", reset: true });
        for (const node of nodes) {
          const blocked = (await api(node, "GET", "/api/blocks?prefix=c%3A")).body.blocked;
          assert.deepEqual(blocked, []);
        }
        const next = await postJson(`${n3.url}/check`, { key: "c:full", limit: 2 });
        assert.equal(next.status, 200);
        assert.equal(next.body.current_count, 1);
        const again = await api(n1, "POST", "/api/counters/c%3Anever/reset");
        assert.deepEqual(again.body, { key: "c:never", reset: false });
      });

      await t.step("state-changing calls need the token on a real node", async () => {
        const wrong = { authorization: "Bearer wrong-token-0123456789" };
        for (
          const [method, path, body] of [
            ["PUT", "/api/limits/guarded", { limit: 1 }],
            ["DELETE", "/api/limits/guarded", undefined],
            ["POST", "/api/counters/c%3Ahalf/reset", undefined],
          ] as [string, string, unknown][]
        ) {
          for (const headers of [{}, wrong]) {
            const res = await api(n3, method, path, body, headers);
            assert.equal(res.status, 401, `${method} ${path}`);
            assert.equal((res.body.error as Json).code, "unauthorized");
          }
        }
        assert.deepEqual((await api(n1, "GET", "/api/limits", undefined, {})).body.overrides, []);
        const counters = (await api(n1, "GET", "/api/counters?prefix=c%3Ahalf", undefined, {}))
          .body.counters as Json[];
        assert.equal(counters.length, 1, "the unauthorized reset changed nothing");
        assert.equal((await api(n3, "PUT", "/api/limits/guarded", { limit: 1 })).status, 200);
        assert.equal((await api(n3, "DELETE", "/api/limits/guarded")).status, 200);
      });

      await t.step(
        "a page-through of /api/counters with 5,000 keys returns each exactly once",
        async () => {
          const client = await createRedisClient(redis.url);
          try {
            const store = new RedisStore({ client, prefix: "rl" });
            await store.checkMany(
              Array.from({ length: 5000 }, (_, i) => [
                {
                  key: `page:${i}`,
                  algorithm: "sliding_log" as const,
                  limit: 9,
                  windowMs: 120_000,
                  cost: 1,
                },
              ]),
            );
          } finally {
            await client.close();
          }
          for (const query of ["prefix=page%3A&limit=500", "limit=1000"]) {
            const seen: string[] = [];
            let cursor: string | null = null;
            let pages = 0;
            do {
              const suffix: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
              const { status, body } = await api(
                nodes[pages % 3]!,
                "GET",
                `/api/counters?${query}${suffix}`,
              );
              assert.equal(status, 200, JSON.stringify(body));
              seen.push(...(body.counters as Json[]).map((c) => String(c.key)));
              cursor = body.next_cursor as string | null;
              pages++;
            } while (cursor !== null && pages < 1000);
            const paged = seen.filter((k) => k.startsWith("page:"));
            assert.equal(paged.length, 5000, query);
            assert.equal(new Set(paged).size, 5000, query);
          }
        },
      );

      await t.step(
        "every node's ratelimiter_active_counters converges on the real count",
        async () => {
          const scanned = await redis.cli("--scan", "--pattern", "rl:*:{*");
          const expected = scanned.split("\n").filter((l) => l !== "").length;
          assert.ok(expected > 5000, `expected ${expected}`);
          for (const node of nodes) {
            await waitFor(`the gauge on ${node.url}`, async () => {
              const text = await (await fetch(`${node.url}/metrics`)).text();
              const match = /^ratelimiter_active_counters\{[^}]*\} (\d+)$/m.exec(text);
              return match !== null && Number(match[1]) === expected;
            });
          }
        },
      );

      await t.step("a SIGTERM'd node leaves the list at once", async () => {
        assert.equal(await n3.stop("SIGTERM"), 0);
        assert.deepEqual(await nodeStates(n1), { "node-1": "Up", "node-2": "Up" });
      });

      await t.step(
        "a SIGKILL'd node is listed Down once its TTL passes, and stays listed",
        async () => {
          await n2.stop("SIGKILL");
          await waitFor(
            "node-2 to be Down",
            async () => (await nodeStates(n1))["node-2"] === "Down",
          );
          assert.deepEqual(await nodeStates(n1), { "node-1": "Up", "node-2": "Down" });
          const down = ((await api(n1, "GET", "/api/nodes")).body.nodes as Json[])
            .find((n) => n.id === "node-2")!;
          assert.ok(Number(down.last_heartbeat_age_ms) >= 2000);
        },
      );
    } finally {
      await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    }
  },
});

Deno.test({
  name: "a node rides out a Redis outage: 503 from /api, one log line each way, then re-registers",
  ...opts,
  async fn() {
    const redis = await startRedis();
    const node = await startNode({
      env: {
        RATELIMITER_REDIS_URL: redis.url,
        RATELIMITER_STORE_TIMEOUT_MS: "5000",
        RATELIMITER_NODE_ID: "survivor",
        RATELIMITER_NODE_TTL_SECONDS: "2",
        RATELIMITER_NODE_HEARTBEAT_SECONDS: "1",
      },
    });
    try {
      await api(node, "PUT", "/api/limits/kept", { limit: 1 });
      await redis.kill();
      for (
        const [method, path, body] of [
          ["GET", "/api/nodes", undefined],
          ["GET", "/api/limits", undefined],
          ["GET", "/api/counters", undefined],
          ["PUT", "/api/limits/k", { limit: 1 }],
          ["POST", "/api/counters/k/reset", undefined],
        ] as [string, string, unknown][]
      ) {
        const res = await api(node, method, path, body);
        assert.equal(res.status, 503, `${method} ${path}`);
        assert.equal((res.body.error as Json).code, "store_unavailable");
      }
      await waitFor(
        "a failed heartbeat",
        () => node.logs.some((l) => l.event === "registry_heartbeat_failed"),
      );
      // Let a few more heartbeats fail: they must not be logged again.
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(await fetch(`${node.url}/health`).then((r) => r.status), 200);
      await redis.restart();
      await waitFor(
        "the node to re-register",
        async () => {
          const res = await api(node, "GET", "/api/nodes");
          return res.status === 200 && (res.body.nodes as Json[]).some((n) => n.id === "survivor");
        },
        15_000,
        100,
      );
      const events = node.logs.map((l) => l.event);
      assert.equal(events.filter((e) => e === "registry_heartbeat_failed").length, 1);
      assert.equal(events.filter((e) => e === "registry_heartbeat_recovered").length, 1);
      // Redis came back empty: the override is gone from every copy.
      await waitFor("the override copy to empty", async () => {
        const checked = await postJson(`${node.url}/check`, { key: "kept", limit: 50 });
        return checked.body.limit === 50;
      });
      assert.equal(await node.stop("SIGTERM"), 0);
    } finally {
      await node.stop("SIGKILL");
      await redis.stop();
    }
  },
});

Deno.test({
  name: "on the embedded store /api/nodes lists only the node, which warns once that /api is open",
  ...opts,
  async fn() {
    const node = await startNode({ env: { RATELIMITER_NODE_ID: "solo" } });
    try {
      const { body } = await api(node, "GET", "/api/nodes");
      assert.deepEqual((body.nodes as Json[]).map((n) => [n.id, n.state, n.self]), [
        ["solo", "Up", true],
      ]);
      assert.equal(node.logs.filter((l) => l.event === "admin_api_open").length, 1);
      assert.equal(await node.stop("SIGTERM"), 0);
    } finally {
      await node.stop("SIGKILL");
    }
  },
});
