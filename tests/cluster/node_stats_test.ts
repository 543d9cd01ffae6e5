import assert from "node:assert/strict";
import { MemoryNodeStats } from "../../src/cluster/memory_node_stats.ts";
import { LocalFigures, parseFigures } from "../../src/cluster/node_stats.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";

function setup() {
  const metrics = createMetrics({ nodeId: "n1", defaultMetrics: false });
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  const figures = new LocalFigures({ metrics, store, clock: () => 42 });
  return { metrics, stats: new MemoryNodeStats({ id: "n1", figures, intervalMs: 60_000 }) };
}

Deno.test("NodeStats.start() publishes this node's figures at once and stop() removes them", async () => {
  const { stats } = setup();
  assert.equal((await stats.read()).size, 0);
  stats.start();
  await stats.stop();
  // stop() waited for the first tick, then removed the figures.
  assert.equal((await stats.read()).size, 0);
  const again = setup().stats;
  await again.tick();
  const published = (await again.read()).get("n1");
  assert.deepEqual(published, {
    allowed_per_second: 0,
    blocked_per_second: 0,
    p99_check_ms: null,
    store: { kind: "memory", status: "up" },
    circuit_state: null,
    at: 42,
  });
});

Deno.test("LocalFigures.current() reads the check counters and histogram of the metrics", async () => {
  const { metrics, stats } = setup();
  await stats.tick();
  metrics.checkedAllowed.inc(30);
  metrics.checkedBlocked.inc(10);
  for (let i = 0; i < 100; i++) metrics.checkDuration.observe(0.0002);
  await new Promise((r) => setTimeout(r, 20));
  const own = await stats.own();
  assert.ok(own.allowed_per_second > 0 && own.blocked_per_second > 0, JSON.stringify(own));
  assert.ok(own.allowed_per_second > own.blocked_per_second);
  // All in the (0.1 ms, 0.25 ms] bucket.
  assert.ok(own.p99_check_ms !== null && own.p99_check_ms > 0.1 && own.p99_check_ms <= 0.25);
});

Deno.test("parseFigures() refuses what is not valid figures", () => {
  assert.equal(parseFigures("{"), undefined);
  assert.equal(parseFigures(JSON.stringify({ allowed_per_second: -1 })), undefined);
});
