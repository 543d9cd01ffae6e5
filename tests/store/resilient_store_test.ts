import assert from "node:assert/strict";
import type { FailureMode } from "../../src/config.ts";
import { StoreUnavailableError } from "../../src/errors.ts";
import type { LimitRequest } from "../../src/limiter/types.ts";
import { createLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import {
  chunkGroups,
  ResilientStore,
  type ResilientStoreOptions,
} from "../../src/store/resilient_store.ts";
import { FakeStore } from "../_helpers/fake_store.ts";

const TIMEOUT_MS = 40;
/** Generous slack over a deadline on a shared machine: a bound on hanging, not a speed test. */
const MARGIN_MS = 1000;

function req(key: string, limit = 10, cost = 1): LimitRequest {
  return { key, algorithm: "sliding_log", limit, windowMs: 60_000, cost };
}

function setup(
  failureMode: FailureMode = "open",
  options: Partial<ResilientStoreOptions> = {},
) {
  const inner = new FakeStore();
  const metrics = createMetrics({ nodeId: "n", defaultMetrics: false });
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "info", write: (line) => logs.push(JSON.parse(line)) });
  const store = new ResilientStore({
    inner,
    timeoutMs: TIMEOUT_MS,
    failureMode,
    probeIntervalMs: 50,
    metrics,
    logger,
    ...options,
  });
  const metric = async (pattern: RegExp): Promise<number> => {
    const line = (await metrics.render()).split("\n").find((l) => pattern.test(l));
    return line === undefined ? NaN : Number(line.split(" ").at(-1));
  };
  return { inner, store, metrics, logs, metric };
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started };
}

async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("ResilientStore passes calls through while the store answers", async () => {
  const { inner, store, metric, metrics } = setup();
  try {
    const first = await store.check([req("k", 2)]);
    const second = await store.check([req("k", 2)]);
    const third = await store.check([req("k", 2)]);
    assert.deepEqual([first.allowed, second.allowed, third.allowed], [true, true, false]);
    assert.equal(first.degraded, undefined);
    assert.equal(inner.calls.check, 3);
    assert.equal(await store.reset("k"), true);
    assert.equal(await store.countCounters(), 0);
    await store.ping();
    assert.equal(store.status(), "up");
    assert.equal(store.kind, "redis");
    assert.equal(await metric(/^ratelimiter_store_up/), 1);
    assert.doesNotMatch(await metrics.render(), /ratelimiter_store_errors_total\{/);
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore answers a hanging check within the deadline, open: allowed and marked", async () => {
  const { inner, store, metric } = setup("open");
  inner.mode = "hang";
  try {
    const { value: outcome, ms } = await timed(() => store.check([req("k", 10, 3)]));
    assert.ok(ms < TIMEOUT_MS + MARGIN_MS, `answered after ${ms} ms`);
    assert.equal(outcome.allowed, true);
    assert.equal(outcome.degraded, "open");
    assert.equal(outcome.deniedIndex, -1);
    // Answered as if the window were empty.
    assert.equal(outcome.decisions[0]!.count, 3);
    assert.equal(outcome.decisions[0]!.remaining, 7);
    assert.equal(outcome.decisions[0]!.retryAfterMs, 0);
    assert.equal(await metric(/^ratelimiter_store_errors_total\{kind="timeout"/), 1);
    assert.equal(await metric(/^ratelimiter_degraded_decisions_total\{mode="open"/), 1);
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore open mode still denies a cost no window could hold", async () => {
  const { inner, store } = setup("open");
  inner.mode = "fail";
  try {
    const outcome = await store.check([req("a", 5, 1), req("b", 2, 3)]);
    assert.equal(outcome.allowed, false);
    assert.equal(outcome.deniedIndex, 1);
    assert.equal(outcome.degraded, "open");
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore closed mode throws StoreUnavailableError with the failure's kind", async () => {
  const { inner, store, metric } = setup("closed");
  inner.mode = "fail";
  try {
    const error = await store.check([req("k")]).then(() => undefined, (e) => e);
    assert.ok(error instanceof StoreUnavailableError);
    assert.equal(error.kind, "connection");
    inner.mode = "reply";
    const reply = await store.check([req("k")]).then(() => undefined, (e) => e);
    assert.equal(reply.kind, "reply");
    assert.equal(await metric(/^ratelimiter_store_errors_total\{kind="connection"/), 1);
    assert.equal(await metric(/^ratelimiter_store_errors_total\{kind="reply"/), 1);
    assert.equal(await metric(/^ratelimiter_degraded_decisions_total\{mode="closed"/), 2);
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore local mode enforces ceil(limit / live nodes) in process", async () => {
  let live = 3;
  const { inner, store, metric } = setup("local", { liveNodes: () => live });
  inner.mode = "fail";
  try {
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await store.check([req("k", 10)]));
    // ceil(10 / 3) = 4 on this node.
    assert.deepEqual(results.map((r) => r.allowed), [true, true, true, true, false, false]);
    assert.ok(results.every((r) => r.degraded === "local"));
    assert.equal(results[0]!.decisions[0]!.remaining, 3);
    assert.ok(results[4]!.decisions[0]!.retryAfterMs > 0);
    // A broken node count falls back to 1 node: the whole limit.
    live = 0;
    const alone = await store.check([req("other", 2)]);
    assert.equal(alone.decisions[0]!.remaining, 1);
    assert.equal(await metric(/^ratelimiter_degraded_decisions_total\{mode="local"/), 7);
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore local mode divides an explicit gcra burst by the live nodes too", async () => {
  const { inner, store } = setup("local", { liveNodes: () => 3 });
  inner.mode = "fail";
  try {
    // limit 900 per minute, burst 90: this node's share is burst ceil(90 / 3) = 30 at once.
    const gcra: LimitRequest = {
      key: "g",
      algorithm: "gcra",
      limit: 900,
      windowMs: 60_000,
      cost: 1,
      burst: 90,
    };
    let allowed = 0;
    for (let i = 0; i < 40; i++) if ((await store.check([gcra])).allowed) allowed++;
    assert.equal(allowed, 30);
    // A burst below the node count still lets one request through (ceil, at least 1).
    const small = await store.check([{ ...gcra, key: "g1", burst: 2 }]);
    assert.equal(small.allowed, true);
    assert.equal((await store.check([{ ...gcra, key: "g1", burst: 2 }])).allowed, false);
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore local mode divides an explicit token_bucket refill_rate by the live nodes", async () => {
  const { inner, store } = setup("local", { liveNodes: () => 3 });
  inner.mode = "fail";
  try {
    // Capacity 3 (ceil(9 / 3)), refill ceil(3000 / 3) = 1,000 per 60 s: one token per 60 ms. The
    // whole refill_rate would give one per 20 ms.
    const bucket: LimitRequest = {
      key: "t",
      algorithm: "token_bucket",
      limit: 9,
      windowMs: 60_000,
      cost: 1,
      refillRate: 3000,
    };
    for (let i = 0; i < 3; i++) assert.equal((await store.check([bucket])).allowed, true);
    const denied = await store.check([bucket]);
    assert.equal(denied.allowed, false);
    assert.equal(denied.degraded, "local");
    // Time for one token at this node's share of the rate (a structural bound, not a speed test).
    assert.ok(
      denied.decisions[0]!.retryAfterMs > 40,
      `retry ${denied.decisions[0]!.retryAfterMs} ms`,
    );
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore checkMany applies the failure mode to every group", async () => {
  const { inner, store } = setup("open");
  inner.mode = "hang";
  try {
    const outcomes = await store.checkMany([[req("a")], [req("b")], [req("c", 1, 2)]]);
    assert.deepEqual(outcomes.map((o) => o.allowed), [true, true, false]);
    assert.ok(outcomes.every((o) => o.degraded === "open"));
  } finally {
    await store.close();
  }
});

Deno.test("chunkGroups() keeps groups whole, in order, at most maxLimits limits per chunk", () => {
  const g = (n: number) => Array.from({ length: n }, (_, i) => req(`k${i}`));
  const groups = [g(1), g(2), g(3), g(5), g(1), g(1)];
  const chunks = chunkGroups(groups, 4);
  assert.deepEqual(chunks.map((c) => c.map((x) => x.length)), [[1, 2], [3], [5], [1, 1]]);
  assert.deepEqual(chunks.flat(), groups);
  assert.deepEqual(chunkGroups([], 4), []);
});

Deno.test("ResilientStore checkMany sends a large batch in check-sized chunks, one after the other", async () => {
  const { inner, store } = setup("open", { batchChunkLimits: 10 });
  try {
    const groups = Array.from({ length: 95 }, (_, i) => [req(`k${i % 7}`, 5)]);
    const outcomes = await store.checkMany(groups);
    assert.equal(inner.calls.checkMany, 10);
    assert.equal(outcomes.length, 95);
    assert.ok(outcomes.every((o) => o.degraded === undefined));
    // Answered in order: each key's sixth check onwards is denied, as one big call would decide.
    const seen = new Map<string, number>();
    groups.forEach((group, i) => {
      const n = (seen.get(group[0]!.key) ?? 0) + 1;
      seen.set(group[0]!.key, n);
      assert.equal(outcomes[i]!.allowed, n <= 5, `check ${i}`);
    });
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore checkMany counts a failed batch as one breaker failure and degrades only the rest", async () => {
  const { inner, store, metric } = setup("open", { batchChunkLimits: 10, failureThreshold: 2 });
  try {
    let calls = 0;
    const checkMany = inner.checkMany.bind(inner);
    inner.checkMany = (groups) => {
      // The third chunk fails, as a store that goes down mid-batch.
      if (++calls === 3) inner.mode = "fail";
      return checkMany(groups);
    };
    const outcomes = await store.checkMany(Array.from({ length: 50 }, (_, i) => [req(`k${i}`)]));
    assert.equal(calls, 3);
    assert.ok(outcomes.slice(0, 20).every((o) => o.degraded === undefined));
    assert.ok(outcomes.slice(20).every((o) => o.degraded === "open"));
    assert.equal(store.circuitState, "closed");
    assert.equal(await metric(/^ratelimiter_store_errors_total\{kind="connection"/), 1);
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore opens the circuit after 3 failures and stops calling the store", async () => {
  const { inner, store, metric, logs } = setup("open", { probeIntervalMs: 60_000 });
  inner.mode = "fail";
  try {
    for (let i = 0; i < 10; i++) {
      const outcome = await store.check([req("k")]);
      assert.equal(outcome.degraded, "open");
    }
    assert.equal(inner.calls.check, 3);
    assert.equal(store.circuitState, "open");
    assert.equal(store.status(), "down");
    assert.equal(await metric(/^ratelimiter_store_errors_total\{kind="connection"/), 3);
    assert.equal(await metric(/^ratelimiter_store_errors_total\{kind="circuit_open"/), 7);
    assert.equal(await metric(/^ratelimiter_circuit_state/), 2);
    assert.equal(await metric(/^ratelimiter_store_up/), 0);
    // Management calls and /ready's ping fail at once, without touching the store.
    const { ms } = await timed(() => store.ping().catch(() => {}));
    assert.ok(ms < MARGIN_MS);
    await assert.rejects(store.reset("k"), StoreUnavailableError);
    await assert.rejects(store.listCounters({ limit: 10 }), StoreUnavailableError);
    assert.equal(inner.calls.ping + inner.calls.reset + inner.calls.listCounters, 0);
    const opened = logs.filter((l) => l.event === "circuit_open");
    assert.equal(opened.length, 1);
    assert.match(String(opened[0]!.reason), /3 consecutive failures/);
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore probes while open and closes once the store answers", async () => {
  const { inner, store, metric, logs } = setup("open");
  inner.mode = "fail";
  try {
    for (let i = 0; i < 20; i++) await store.check([req("k")]);
    assert.equal(store.circuitState, "open");
    // Let a few probes fail, then bring the store back.
    await waitFor(() => inner.calls.ping >= 2, "two probes");
    assert.equal(store.circuitState, "open");
    inner.mode = "up";
    await waitFor(() => store.circuitState === "closed", "the circuit to close");
    const outcome = await store.check([req("fresh", 1)]);
    assert.equal(outcome.degraded, undefined);
    assert.equal((await store.check([req("fresh", 1)])).allowed, false);
    assert.equal(await metric(/^ratelimiter_circuit_state/), 0);
    assert.equal(await metric(/^ratelimiter_store_up/), 1);
    // One line per transition, not one per request or per failed probe.
    assert.equal(logs.filter((l) => l.event === "circuit_open").length, 1);
    const closed = logs.filter((l) => l.event === "circuit_closed");
    assert.equal(closed.length, 1);
    assert.equal(typeof closed[0]!.down_ms, "number");
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore keeps one probe in flight at most while the store hangs", async () => {
  const { inner, store } = setup("open");
  inner.mode = "hang";
  try {
    await Promise.all([1, 2, 3].map(() => store.check([req("k")])));
    assert.equal(store.circuitState, "open");
    await waitFor(() => inner.calls.ping === 1, "the first probe");
    // Several intervals pass; the unanswered PING is not sent again.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(inner.calls.ping, 1);
    assert.equal(store.circuitState, "open");
    inner.mode = "up";
    inner.release();
    await waitFor(() => store.circuitState === "closed", "the circuit to close");
    assert.equal(store.inFlight, 0);
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore bounds calls waiting on a silent store (maxInFlight)", async () => {
  const { inner, store, metric } = setup("open", { maxInFlight: 2, failureThreshold: 100 });
  inner.mode = "hang";
  try {
    await Promise.all([store.check([req("a")]), store.check([req("b")])]);
    assert.equal(store.inFlight, 2);
    const third = await store.check([req("c")]);
    assert.equal(third.degraded, "open");
    assert.equal(inner.calls.check, 2);
    assert.equal(await metric(/^ratelimiter_store_errors_total\{kind="overload"/), 1);
    // The late replies arrive, and are counted by the store: nothing is lost.
    inner.release();
    await waitFor(() => store.inFlight === 0, "late replies");
    assert.equal(await inner.memory.countCounters(), 2);
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore gives management calls a deadline too", async () => {
  const { inner, store } = setup("open", { listTimeoutMs: 60, countTimeoutMs: 60 });
  inner.mode = "hang";
  try {
    for (const call of [() => store.reset("k"), () => store.listCounters({ limit: 5 })]) {
      const { value: error, ms } = await timed(() => call().then(() => undefined, (e) => e));
      assert.ok(error instanceof StoreUnavailableError);
      assert.equal(error.kind, "timeout");
      assert.ok(ms < 60 + MARGIN_MS, `answered after ${ms} ms`);
    }
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore lets errors that are not outages through without tripping", async () => {
  const { store } = setup("open");
  try {
    for (let i = 0; i < 5; i++) {
      await assert.rejects(store.listCounters({ limit: 5, cursor: "bad" }), RangeError);
    }
    assert.equal(store.circuitState, "closed");
  } finally {
    await store.close();
  }
});

Deno.test("ResilientStore rejects a deadline that is not positive", () => {
  assert.throws(() => new ResilientStore({ inner: new FakeStore(), timeoutMs: 0 }), RangeError);
});
