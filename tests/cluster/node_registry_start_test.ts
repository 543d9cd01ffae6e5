import assert from "node:assert/strict";
import { createManualClock } from "../_helpers/manual_clock.ts";
import { StoreUnavailableError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { MemoryRegistry } from "../../src/cluster/memory_registry.ts";
import { NodeRegistry } from "../../src/cluster/node_registry.ts";
import type {
  NodeIdConflictError,
  RegisterResult,
  RegistrationRequest,
  RegistryTiming,
} from "../../src/cluster/registry.ts";

/** A backend that cannot be reached while `down` is set, like a Redis registry during an outage. */
class DownBackend extends MemoryRegistry {
  down = true;
  override register(request: RegistrationRequest, timing: RegistryTiming): Promise<RegisterResult> {
    if (this.down) return Promise.reject(new StoreUnavailableError("Redis did not answer"));
    return super.register(request, timing);
  }
}

function setup(
  backend: MemoryRegistry,
  instance: string,
  onLateConflict?: (e: NodeIdConflictError) => void,
) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "debug", write: (l) => lines.push(JSON.parse(l)) });
  const registry = new NodeRegistry({
    backend,
    id: "n",
    address: `h:${instance}`,
    instance,
    ttlSeconds: 2,
    heartbeatSeconds: 1,
    logger,
    autoHeartbeat: false,
    ...(onLateConflict === undefined ? {} : { onLateConflict }),
  });
  return { registry, lines };
}

Deno.test("NodeRegistry.start() with the registry unreachable starts, then registers on the first heartbeat that gets through", async () => {
  const backend = new DownBackend({ clock: createManualClock() });
  const { registry, lines } = setup(backend, "a", () => assert.fail("no conflict expected"));
  await registry.start();
  assert.equal(registry.registered, false);
  await registry.heartbeat();
  assert.equal(registry.registered, false);
  backend.down = false;
  await registry.heartbeat();
  await registry.heartbeat();
  assert.equal(registry.registered, true);
  assert.deepEqual(lines.map((l) => l.event), ["registry_heartbeat_failed", "node_registered"]);
  assert.deepEqual((await registry.list()).map((n) => [n.id, n.address, n.state]), [[
    "n",
    "h:a",
    "Up",
  ]]);
  await registry.stop();
});

Deno.test("NodeRegistry.start() with the registry unreachable reports a taken id at its first registration", async () => {
  const backend = new DownBackend({ clock: createManualClock() });
  backend.down = false;
  const holder = setup(backend, "holder").registry;
  await holder.start();
  backend.down = true;
  const conflicts: NodeIdConflictError[] = [];
  const { registry } = setup(backend, "late", (e) => conflicts.push(e));
  await registry.start();
  backend.down = false;
  await registry.heartbeat();
  assert.equal(conflicts.length, 1);
  assert.equal(conflicts[0]!.id, "n");
  assert.equal(conflicts[0]!.address, "h:holder");
  assert.equal(registry.registered, false);
  // Stopping must not remove the holder's record.
  await registry.stop();
  assert.deepEqual((await holder.list()).map((n) => n.address), ["h:holder"]);
  await holder.stop();
});

Deno.test("NodeRegistry.start() still throws errors other than an unreachable registry", async () => {
  class Broken extends MemoryRegistry {
    override register(): Promise<RegisterResult> {
      return Promise.reject(new Error("ERR script bug"));
    }
  }
  const { registry } = setup(new Broken(), "a");
  await assert.rejects(registry.start(), /script bug/);
});
