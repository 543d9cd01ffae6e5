/**
 * A real 3-master Redis Cluster whose nodes require a password: nodes in cluster mode with the
 * password in their seed URLs reach every master (also the ones they discover), stay exact across
 * masters and share events; a wrong password is refused without the password reaching any log.
 *
 * @module
 */
import assert from "node:assert/strict";
import { keysOnEveryMaster } from "../_helpers/cluster_keys.ts";
import { startNodes } from "../_helpers/node_group.ts";
import { postJson, startNode, type TestNode } from "../_helpers/node_process.ts";
import { startRedisCluster } from "../_helpers/redis_cluster.ts";
import { sleep, waitFor } from "../_helpers/wait.ts";
import { integration as opts } from "../_helpers/options.ts";

const PASSWORD = "cluster-pass-9f8e7d6c";
const WRONG = "not-the-password-1a2b3c";
const TOKEN = "cluster-auth-token-0123456789";

Deno.test({
  name: "a password-protected Redis Cluster: exact across masters with the password in the " +
    "seed URLs; a wrong password is refused and never logged",
  ...opts,
  async fn(t) {
    await using cluster = await startRedisCluster({ masters: 3, password: PASSWORD });
    // The harness's own connections authenticate; an anonymous one is refused.
    const anonymous = await new Deno.Command("redis-cli", {
      args: ["-p", String(cluster.nodes[0]!.port), "PING"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.match(new TextDecoder().decode(anonymous.stdout), /NOAUTH/);

    const env = {
      ...cluster.nodeEnv,
      RATELIMITER_STORE_TIMEOUT_MS: "5000",
      RATELIMITER_ADMIN_TOKEN: TOKEN,
    };
    // Only one seed: the other masters are discovered, and reached with the same password.
    const oneSeed = { ...env, RATELIMITER_REDIS_URL: cluster.seedUrls.split(",")[0]! };
    const nodes = await startNodes([{ env }, { env: oneSeed }]);
    const [n1, n2] = nodes as [TestNode, TestNode];
    try {
      await t.step("checks on keys of every master are exact through both nodes", async () => {
        const keys = await keysOnEveryMaster(cluster, "auth:", 2);
        const replies = await Promise.all(
          keys.flatMap(({ key }) =>
            Array.from(
              { length: 12 },
              (_, i) =>
                postJson(`${nodes[i % 2]!.url}/check`, { key, limit: 4, window_ms: 3_600_000 })
                  .then((r) => ({ key, ...r })),
            )
          ),
        );
        for (const { key } of keys) {
          const mine = replies.filter((r) => r.key === key);
          assert.equal(mine.filter((r) => r.status === 200 && !r.body.degraded).length, 4, key);
          assert.equal(mine.filter((r) => r.status === 429).length, 8, key);
        }
        for (const master of await cluster.masters()) {
          assert.ok(Number(await master.cli("DBSIZE")) > 0, `${master.address} holds counters`);
        }
      });

      await t.step("an override set on one node reaches the other (events, polling)", async () => {
        const res = await fetch(`${n1.url}/api/limits/auth-override`, {
          method: "PUT",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ limit: 2, window_ms: 3_600_000 }),
        });
        assert.equal(res.status, 200, await res.text());
        await waitFor(
          "node 2 to apply the override",
          async () => {
            const peek = await fetch(`${n2.url}/check/auth-override?limit=50`);
            return (await peek.json()).limit === 2;
          },
          10_000,
          50,
        );
      });
    } finally {
      await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    }

    await t.step(
      "a wrong password: no exact answer, WRONGPASS named, password never logged",
      async () => {
        const wrongUrls = cluster.seedUrls.replaceAll(
          encodeURIComponent(PASSWORD),
          encodeURIComponent(WRONG),
        );
        const node = await startNode({
          env: { ...env, RATELIMITER_REDIS_URL: wrongUrls },
          waitReady: false,
        });
        try {
          let exited = false;
          node.status.then(() => exited = true);
          // It either exits at start or keeps running without Redis: give it time to do either.
          await waitFor(
            "the node to exit or to log the refusal",
            () => exited || JSON.stringify(node.logs).includes("WRONGPASS"),
            30_000,
            50,
          );
          if (!exited) {
            await sleep(500);
            const reply = await postJson(`${node.url}/check`, { key: "k", limit: 1 }).catch(() =>
              undefined
            );
            if (reply !== undefined) {
              assert.ok(reply.status !== 200 || reply.body.degraded === true, "no exact answer");
            }
          }
        } finally {
          await node.stop("SIGKILL");
        }
        const logs = JSON.stringify(node.logs);
        assert.match(logs, /WRONGPASS|invalid username-password/i);
        assert.ok(!logs.includes(WRONG), "the wrong password reached a log");
        assert.ok(!logs.includes(PASSWORD), "the password reached a log");
      },
    );
  },
});
