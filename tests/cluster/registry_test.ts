import assert from "node:assert/strict";
import { createManualClock } from "../_helpers/manual_clock.ts";
import { createLogger } from "../../src/log.ts";
import { MemoryRegistry } from "../../src/cluster/memory_registry.ts";
import { NodeRegistry } from "../../src/cluster/node_registry.ts";
import type {
  RegisterResult,
  RegistrationRequest,
  RegistryTiming,
} from "../../src/cluster/registry.ts";
import { runRegistryCases } from "./_registry_cases.ts";

Deno.test("NodeRegistry follows the registry rules on MemoryRegistry", async (t) => {
  await runRegistryCases(t, (clock) => new MemoryRegistry({ clock }));
});

Deno.test("NodeRegistry rejects a heartbeat that is not below the TTL", () => {
  assert.throws(
    () =>
      new NodeRegistry({
        backend: new MemoryRegistry(),
        id: "n",
        address: "h:1",
        ttlSeconds: 2,
        heartbeatSeconds: 2,
      }),
    RangeError,
  );
});

/** A backend that fails while `down` is set, to simulate a store outage. */
class FlakyBackend extends MemoryRegistry {
  down = false;
  override register(request: RegistrationRequest, timing: RegistryTiming): Promise<RegisterResult> {
    if (this.down) return Promise.reject(new Error("connection refused"));
    return super.register(request, timing);
  }
}

Deno.test("NodeRegistry.heartbeat() survives a store outage and logs once per transition", async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "debug", write: (l) => lines.push(JSON.parse(l)) });
  const clock = createManualClock();
  const backend = new FlakyBackend({ clock });
  const registry = new NodeRegistry({
    backend,
    id: "n",
    address: "h:1",
    ttlSeconds: 2,
    heartbeatSeconds: 1,
    logger,
    autoHeartbeat: false,
  });
  await registry.start();
  backend.down = true;
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    await registry.heartbeat();
  }
  backend.down = false;
  clock.advance(1000);
  await registry.heartbeat();
  await registry.heartbeat();
  const events = lines.map((l) => l.event);
  assert.deepEqual(events, ["registry_heartbeat_failed", "registry_heartbeat_recovered"]);
  const [listed] = await registry.list();
  assert.equal(listed!.state, "Up");
  assert.equal(listed!.lastHeartbeatAt, clock());
  await registry.stop();
});

Deno.test("NodeRegistry beats on its own timer until stopped", async () => {
  const backend = new MemoryRegistry();
  const registry = new NodeRegistry({
    backend,
    id: "n",
    address: "h:1",
    ttlSeconds: 2,
    heartbeatSeconds: 1,
  });
  await registry.start();
  const [before] = await registry.list();
  await new Promise((r) => setTimeout(r, 1300));
  const [after] = await registry.list();
  assert.ok(after!.lastHeartbeatAt > before!.lastHeartbeatAt, "no heartbeat within 1.3 s");
  await registry.stop();
  assert.deepEqual(await registry.list(), []);
});
