/**
 * How RedisStore pages counters across the masters of a cluster, against a stand-in connection
 * (no Redis): pages run through the masters in address order, the cursor names the master, and a
 * master that vanished between two pages (a failover) is replaced by the next one in order.
 */
import assert from "node:assert/strict";
import type { RedisClient, RedisNode } from "../../src/redis/connection.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { counterKey } from "../../src/store/keys.ts";

/** A stand-in cluster: each master holds some counter keys, SCAN returns them all at once. */
function fakeCluster(keysByMaster: Record<string, string[]>): RedisClient & {
  drop(address: string): void;
} {
  const masters = new Map(Object.entries(keysByMaster));
  const node = (address: string): RedisNode => ({
    address,
    sendCommand<T>(args: string[]): Promise<T> {
      assert.equal(args[0], "SCAN");
      const keys = (masters.get(address) ?? []).map((k) => counterKey("rl", "fixed_window", k));
      return Promise.resolve(["0", keys] as T);
    },
  });
  return {
    mode: "cluster",
    isReady: true,
    isOpen: true,
    sendCommand<T>(args: string[]): Promise<T> {
      if (args[0] === "SCRIPT") return Promise.resolve("sha" as T);
      // A peek: limit, window, param, allowed, count, remaining, retry, reset.
      return Promise.resolve([10, 1000, 0, 1, 1, 9, 0, 1000] as T);
    },
    masters: () => [...masters.keys()].sort().map(node),
    nodeOf: () => "",
    subscriber: () => {
      throw new Error("not used");
    },
    on: () => undefined,
    connect: () => Promise.resolve(),
    close: () => Promise.resolve(),
    destroy: () => undefined,
    drop: (address: string) => masters.delete(address),
  };
}

Deno.test("RedisStore pages counters master after master, the cursor naming the master", async () => {
  const client = fakeCluster({
    "127.0.0.1:7002": ["b1", "b2", "b3"],
    "127.0.0.1:7001": ["a1"],
    "127.0.0.1:7003": ["c1", "c2"],
  });
  const store = new RedisStore({ client });
  const pages: { keys: string[]; next: string | undefined }[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listCounters({ limit: 2, ...(cursor ? { cursor } : {}) });
    cursor = page.nextCursor;
    pages.push({ keys: page.counters.map((c) => c.key), next: cursor });
  } while (cursor !== undefined);
  assert.deepEqual(pages, [
    { keys: ["a1", "b1"], next: "127.0.0.1:7002-0-1" },
    { keys: ["b2", "b3"], next: "127.0.0.1:7003-0-0" },
    { keys: ["c1", "c2"], next: undefined },
  ]);
});

Deno.test("RedisStore: a cursor naming a master gone since (failover) goes on with the next one", async () => {
  const client = fakeCluster({
    "127.0.0.1:7001": ["a1", "a2", "a3"],
    "127.0.0.1:7002": ["b1"],
    "127.0.0.1:7003": ["c1"],
  });
  const store = new RedisStore({ client });
  const first = await store.listCounters({ limit: 2 });
  assert.equal(first.nextCursor, "127.0.0.1:7001-0-2");
  client.drop("127.0.0.1:7001");
  const next = await store.listCounters({ limit: 5, cursor: first.nextCursor! });
  assert.deepEqual(next.counters.map((c) => c.key), ["b1", "c1"]);
  assert.equal(next.nextCursor, undefined);
  // Past every master: an empty last page.
  const past = await store.listCounters({ limit: 5, cursor: "127.0.0.1:7999-5-0" });
  assert.deepEqual(past, { counters: [], nextCursor: undefined });
  await assert.rejects(store.listCounters({ limit: 5, cursor: "5-0" }), RangeError);
});
