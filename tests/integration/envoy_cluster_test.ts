/**
 * The Envoy protocol on three `main.ts` nodes sharing one Redis, each with the same rules file and
 * its own gRPC port, driven by real gRPC clients over loopback: the conformance table with calls
 * spread over the nodes, exactness under concurrency (N calls, limit L → exactly L OK, and a
 * two-descriptor request over one limit consumes nothing from the other), and a reload of the rules
 * file under load (no failed call, the new limit answered within a second).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { integration as opts } from "../_helpers/options.ts";
import { startNode, type TestNode } from "../_helpers/node_process.ts";
import { freePort, startRedis } from "../_helpers/redis_server.ts";
import { keySlot, startRedisCluster } from "../_helpers/redis_cluster.ts";
import { waitFor } from "../_helpers/wait.ts";
import { CONFORMANCE_YAML, runConformance } from "../envoy/_conformance.ts";
import { type ClientRequest, connectRls, type RlsClient } from "../envoy/_grpc_client.ts";

const EXACT_YAML = `
domain: exact
descriptors:
  - key: user
    rate_limit: { unit: hour, requests_per_unit: 100 }
  - key: ip
    rate_limit: { unit: hour, requests_per_unit: 50 }
`;

async function startCluster(redisEnv: Record<string, string>, rulesFile: string) {
  const nodes: { node: TestNode; client: RlsClient }[] = [];
  for (let i = 0; i < 3; i++) {
    const grpcPort = freePort();
    const node = await startNode({
      env: {
        ...redisEnv,
        RATELIMITER_RULES_FILE: rulesFile,
        RATELIMITER_GRPC_PORT: String(grpcPort),
        RATELIMITER_NODE_ID: `envoy-${i}`,
        // A loaded machine must not turn a slow answer into the failure mode's.
        RATELIMITER_STORE_TIMEOUT_MS: "5000",
      },
    });
    nodes.push({ node, client: connectRls(grpcPort) });
  }
  return {
    nodes,
    /** A client whose calls go to the nodes in turn. */
    roundRobin(): RlsClient {
      let next = 0;
      const pick = () => nodes[next++ % nodes.length]!.client;
      return {
        shouldRateLimit: (request, deadline) => pick().shouldRateLimit(request, deadline),
        startCall: (request) => pick().startCall(request),
        healthCheck: (service) => pick().healthCheck(service),
        healthWatch: () => pick().healthWatch(),
        close() {},
      };
    },
    async [Symbol.asyncDispose]() {
      for (const { node, client } of nodes) {
        client.close();
        await node.stop();
      }
    },
  };
}

async function replaceFile(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(temp, text);
  await Deno.rename(temp, path);
}

Deno.test({
  ...opts,
  name:
    "Envoy protocol on three nodes sharing Redis: conformance table, exactness, reload under load",
  async fn(t) {
    await using redis = await startRedis();
    const dir = await Deno.makeTempDir();
    const rulesFile = join(dir, "rules.yaml");
    await Deno.writeTextFile(rulesFile, `${CONFORMANCE_YAML}---\n${EXACT_YAML}`);
    await using cluster = await startCluster({ RATELIMITER_REDIS_URL: redis.url }, rulesFile);
    const client = cluster.roundRobin();

    await t.step("conformance table, calls spread over the three nodes", async (t) => {
      await runConformance(t, client);
    });

    await t.step("300 concurrent calls over 3 nodes, limit 100: exactly 100 OK", async () => {
      const request: ClientRequest = {
        domain: "exact",
        descriptors: [{ entries: [{ key: "user", value: "u1" }] }],
      };
      const answers = await Promise.all(
        Array.from({ length: 300 }, () => client.shouldRateLimit(request)),
      );
      const ok = answers.filter((a) => a.overall_code === "OK").length;
      assert.equal(ok, 100);
      const remaining = answers.map((a) => a.statuses[0]!.limit_remaining).filter((r) => r > 0);
      // Each OK answer saw a distinct remaining count (99 … 0): no two calls shared a unit.
      assert.equal(new Set(remaining).size, 99);
    });

    await t.step(
      "two descriptors, limits 100 and 50, 150 concurrent calls: 50 OK, atomic",
      async () => {
        const request: ClientRequest = {
          domain: "exact",
          descriptors: [
            { entries: [{ key: "user", value: "u2" }] },
            { entries: [{ key: "ip", value: "10.0.0.1" }] },
          ],
        };
        const answers = await Promise.all(
          Array.from({ length: 150 }, () => client.shouldRateLimit(request)),
        );
        assert.equal(answers.filter((a) => a.overall_code === "OK").length, 50);
        // The 100 calls over the `ip` limit consumed nothing from `user`: 50 of its 100 remain.
        const look = await client.shouldRateLimit({
          domain: "exact",
          descriptors: [{ entries: [{ key: "user", value: "u2" }], hits_addend: { value: 0 } }],
        });
        assert.equal(look.statuses[0]!.limit_remaining, 50);
      },
    );

    await t.step(
      "reload under load: no failed call, the new limit answered within 1 s",
      async () => {
        const request: ClientRequest = {
          domain: "exact",
          descriptors: [{ entries: [{ key: "user", value: "reload" }] }],
        };
        const limits = new Set<number>();
        const failures: unknown[] = [];
        let running = true;
        const workers = Array.from({ length: 8 }, async () => {
          while (running) {
            try {
              const res = await client.shouldRateLimit(request);
              limits.add(res.statuses[0]!.current_limit!.requests_per_unit);
            } catch (error) {
              failures.push(error);
            }
          }
        });
        try {
          await waitFor("calls answered under the old rules", () => limits.has(100));
          await replaceFile(
            rulesFile,
            `${CONFORMANCE_YAML}---\n${
              EXACT_YAML.replace("requests_per_unit: 100", "requests_per_unit: 7")
            }`,
          );
          // Every node answers with the new limit within a second of the change.
          await waitFor("the new limit on every node", async () => {
            const seen = await Promise.all(
              cluster.nodes.map(({ client }) => client.shouldRateLimit(request)),
            );
            return seen.every((r) => r.statuses[0]!.current_limit!.requests_per_unit === 7);
          }, 1000);
        } finally {
          running = false;
          await Promise.all(workers);
        }
        assert.deepEqual(failures, []);
        assert.ok(limits.has(7));
      },
    );
  },
});

Deno.test({
  ...opts,
  name:
    "Envoy protocol on three nodes on a 3-master Redis Cluster: conformance table, exactness, " +
    "descriptors on different slots",
  async fn(t) {
    await using redis = await startRedisCluster({ masters: 3 });
    const dir = await Deno.makeTempDir();
    const rulesFile = join(dir, "rules.yaml");
    await Deno.writeTextFile(rulesFile, `${CONFORMANCE_YAML}---\n${EXACT_YAML}`);
    await using cluster = await startCluster({ ...redis.nodeEnv }, rulesFile);
    const client = cluster.roundRobin();

    await t.step("conformance table, calls spread over the three nodes", async (t) => {
      await runConformance(t, client, { atomic: false });
    });

    await t.step("300 concurrent calls, limit 100: exactly 100 OK", async () => {
      const request: ClientRequest = {
        domain: "exact",
        descriptors: [{ entries: [{ key: "user", value: "c1" }] }],
      };
      const answers = await Promise.all(
        Array.from({ length: 300 }, () => client.shouldRateLimit(request)),
      );
      assert.equal(answers.filter((a) => a.overall_code === "OK").length, 100);
    });

    await t.step(
      "two descriptors whose counters are on different slots: decided, exact each",
      async () => {
        // The counters' keys have no common hash tag: one script could not touch both.
        assert.notEqual(keySlot("rls:exact/user=c2"), keySlot("rls:exact/ip=10.0.0.2"));
        const request: ClientRequest = {
          domain: "exact",
          descriptors: [
            { entries: [{ key: "user", value: "c2" }] },
            { entries: [{ key: "ip", value: "10.0.0.2" }] },
          ],
        };
        const answers = await Promise.all(
          Array.from({ length: 80 }, () => client.shouldRateLimit(request)),
        );
        // Atomic per slot, not across: the ip limit (50) admits exactly 50 calls; the user counter,
        // well under its 100, admits every one of the 80.
        assert.equal(answers.filter((a) => a.overall_code === "OK").length, 50);
        const look = await client.shouldRateLimit({
          domain: "exact",
          descriptors: [{ entries: [{ key: "user", value: "c2" }], hits_addend: { value: 0 } }],
        });
        assert.equal(look.statuses[0]!.limit_remaining, 20);
      },
    );
  },
});
