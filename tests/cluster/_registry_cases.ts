/**
 * Registry rules run against both {@linkcode Registry} twins (memory and Redis) through a
 * {@linkcode NodeRegistry} with a manual clock, so the two implementations cannot drift apart.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createManualClock, type ManualClock } from "../_helpers/manual_clock.ts";
import { NodeRegistry, type NodeRegistryOptions } from "../../src/cluster/node_registry.ts";
import { NodeIdConflictError, type Registry } from "../../src/cluster/registry.ts";

/** Makes a fresh, empty registry on `clock`. */
export type BackendFactory = (clock: ManualClock) => Promise<Registry> | Registry;

const TTL_S = 2;

function node(
  backend: Registry,
  id: string,
  extra: Partial<NodeRegistryOptions> = {},
): NodeRegistry {
  return new NodeRegistry({
    backend,
    id,
    address: `127.0.0.1:${8000 + id.length}`,
    ttlSeconds: TTL_S,
    heartbeatSeconds: 1,
    // Heartbeats are driven by hand so the manual clock alone decides ages.
    autoHeartbeat: false,
    ...extra,
  });
}

/** Runs every case as a step of `t`, each on a fresh backend. */
export async function runRegistryCases(t: Deno.TestContext, make: BackendFactory): Promise<void> {
  const started: NodeRegistry[] = [];
  const start = async (registry: NodeRegistry) => {
    await registry.start();
    started.push(registry);
    return registry;
  };
  try {
    await t.step("a started node is listed Up with its record", async () => {
      const clock = createManualClock();
      const backend = await make(clock);
      const a = await start(node(backend, "a", { address: "10.0.0.1:8000", version: "9.9.9" }));
      const [listed, ...rest] = await a.list();
      assert.equal(rest.length, 0);
      assert.equal(listed!.id, "a");
      assert.equal(listed!.address, "10.0.0.1:8000");
      assert.equal(listed!.version, "9.9.9");
      assert.equal(listed!.state, "Up");
      assert.equal(listed!.registeredAt, clock());
      assert.equal(listed!.lastHeartbeatAt, clock());
      assert.equal(listed!.instance, a.instance);
    });

    await t.step(
      "a second process with a live node's id is refused, naming its address",
      async () => {
        const clock = createManualClock();
        const backend = await make(clock);
        await start(node(backend, "dup", { address: "10.0.0.1:8001" }));
        clock.advance(TTL_S * 1000 - 1);
        try {
          await node(backend, "dup", { address: "10.0.0.2:8002" }).start();
          assert.fail("expected a conflict");
        } catch (e) {
          assert.ok(e instanceof NodeIdConflictError);
          assert.equal(e.id, "dup");
          assert.equal(e.address, "10.0.0.1:8001");
          assert.match(e.message, /"dup".*10\.0\.0\.1:8001/);
        }
        const nodes = await node(backend, "observer").list();
        assert.deepEqual(nodes.map((n) => n.address), ["10.0.0.1:8001"]);
      },
    );

    await t.step("a Down node's id can be taken by a new process", async () => {
      const clock = createManualClock();
      const backend = await make(clock);
      const first = await start(node(backend, "n", { address: "10.0.0.1:1" }));
      await first.heartbeat();
      clock.advance(TTL_S * 1000);
      const second = await start(node(backend, "n", { address: "10.0.0.2:2" }));
      const nodes = await second.list();
      assert.equal(nodes.length, 1);
      assert.equal(nodes[0]!.address, "10.0.0.2:2");
      assert.equal(nodes[0]!.instance, second.instance);
      assert.equal(nodes[0]!.state, "Up");
    });

    await t.step(
      "a node without heartbeats is Down at its TTL and dropped at 10 × TTL",
      async () => {
        const clock = createManualClock();
        const backend = await make(clock);
        await start(node(backend, "crashed"));
        const alive = await start(node(backend, "alive"));
        const states = async () =>
          Object.fromEntries((await alive.list()).map((n) => [n.id, n.state]));
        clock.advance(TTL_S * 1000 - 1);
        await alive.heartbeat();
        assert.deepEqual(await states(), { alive: "Up", crashed: "Up" });
        clock.advance(1);
        assert.deepEqual(await states(), { alive: "Up", crashed: "Down" });
        const down = (await alive.list()).find((n) => n.id === "crashed")!;
        assert.equal(down.lastHeartbeatAgeMs, TTL_S * 1000);
        for (let s = 1; s < 10 * TTL_S; s++) {
          clock.set(1_700_000_000_000 + s * 1000);
          await alive.heartbeat();
        }
        clock.set(1_700_000_000_000 + 10 * TTL_S * 1000 - 1);
        assert.deepEqual(await states(), { alive: "Up", crashed: "Down" });
        clock.advance(1);
        assert.deepEqual(await states(), { alive: "Up" });
        assert.equal(alive.liveNodeCount(), 1);
      },
    );

    await t.step(
      "stop() removes the node at once, and never another process's record",
      async () => {
        const clock = createManualClock();
        const backend = await make(clock);
        const a = await start(node(backend, "a"));
        const b = await start(node(backend, "b"));
        assert.equal(b.liveNodeCount(), 2);
        await a.stop();
        assert.deepEqual((await b.list()).map((n) => n.id), ["b"]);
        assert.equal(b.liveNodeCount(), 1);
        // A stale process whose id was taken over must not remove the new holder.
        clock.advance(TTL_S * 1000);
        const stale = node(backend, "b");
        await stale.start();
        await b.stop();
        assert.deepEqual((await stale.list()).map((n) => n.instance), [stale.instance]);
        await stale.stop();
        assert.deepEqual(await stale.list(), []);
      },
    );

    await t.step(
      "a heartbeat puts back a record the store lost, keeping registered_at",
      async () => {
        const clock = createManualClock();
        const backend = await make(clock);
        const a = await start(node(backend, "a"));
        const registeredAt = clock();
        // Another process takes the id over once "a" is Down, then leaves: the store has no "a".
        clock.advance(TTL_S * 1000);
        const other = node(backend, "a");
        await other.start();
        await other.stop();
        assert.deepEqual(await a.list(), []);
        clock.advance(500);
        await a.heartbeat();
        const [back] = await a.list();
        assert.equal(back!.instance, a.instance);
        assert.equal(back!.registeredAt, registeredAt);
        assert.equal(back!.lastHeartbeatAt, clock());
        assert.equal(back!.state, "Up");
      },
    );

    await t.step("a heartbeat does not take an id another live process holds", async () => {
      const clock = createManualClock();
      const backend = await make(clock);
      const a = await start(node(backend, "a", { address: "10.0.0.1:1" }));
      clock.advance(TTL_S * 1000);
      const b = await start(node(backend, "a", { address: "10.0.0.2:2" }));
      await a.heartbeat();
      const listed = await b.list();
      assert.deepEqual(listed.map((n) => n.address), ["10.0.0.2:2"]);
    });

    await t.step("nodes are listed sorted by id and counted while Up", async () => {
      const clock = createManualClock();
      const backend = await make(clock);
      for (const id of ["c", "a", "b"]) await start(node(backend, id));
      const c = started[started.length - 1]!;
      assert.deepEqual((await c.list()).map((n) => n.id), ["a", "b", "c"]);
      assert.equal(c.liveNodeCount(), 3);
    });
  } finally {
    for (const registry of started) await registry.stop().catch(() => {});
  }
}
