/**
 * The cluster and sentinel harnesses bring up real topologies that answer as Redis documents, and
 * {@linkcode keySlot} agrees with `CLUSTER KEYSLOT`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CLUSTER_SLOTS, keySlot, startRedisCluster } from "./redis_cluster.ts";
import { startRedisSentinel } from "./redis_sentinel.ts";
import { infoValue } from "./redis_process.ts";
import { integration as opts } from "./options.ts";

Deno.test({
  name: "startRedisCluster() serves CLUSTER INFO ok on every node and covers every slot",
  ...opts,
  async fn() {
    await using cluster = await startRedisCluster({ masters: 3 });
    assert.equal(cluster.nodes.length, 3);
    for (const node of cluster.nodes) {
      const info = await node.cli("CLUSTER", "INFO");
      assert.equal(infoValue(info, "cluster_state"), "ok");
      assert.equal(infoValue(info, "cluster_slots_assigned"), String(CLUSTER_SLOTS));
      assert.equal(infoValue(info, "cluster_known_nodes"), "3");
    }
    const masters = await cluster.masters();
    assert.equal(masters.length, 3);
    const slots = (await Promise.all(masters.map((m) => cluster.slotsOf(m))))
      .flat()
      .reduce((sum, [lo, hi]) => sum + hi - lo + 1, 0);
    assert.equal(slots, CLUSTER_SLOTS);
    assert.equal(cluster.seedUrls.split(",").length, 3);
    for (const key of ["a", "rl:sl:{user:42}", "rl:gc:{t}::x", "{}x", "{a}{b}", "é{ü}"]) {
      assert.equal(keySlot(key), Number(await masters[0]!.cli("CLUSTER", "KEYSLOT", key)), key);
    }
    const owner = await cluster.ownerOfSlot(keySlot("k"));
    assert.equal(await owner.cli("SET", "k", "v"), "OK");
    assert.match(await masters.find((m) => m !== owner)!.cli("GET", "k"), /^MOVED /);
  },
});

Deno.test({
  name: "startRedisSentinel() names one master with a linked replica on every sentinel",
  ...opts,
  async fn() {
    await using sentinel = await startRedisSentinel();
    assert.equal(sentinel.sentinels.length, 3);
    const master = await sentinel.master();
    assert.equal(master, sentinel.dataNodes[0]);
    for (const s of sentinel.sentinels) {
      const [host, port] = (await s.cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "rlmaster"))
        .split("\n");
      assert.deepEqual([host, Number(port)], ["127.0.0.1", master.port]);
    }
    const replica = sentinel.dataNodes[1]!;
    const info = await replica.cli("INFO", "replication");
    assert.equal(infoValue(info, "role"), "slave");
    assert.equal(infoValue(info, "master_link_status"), "up");
  },
});
