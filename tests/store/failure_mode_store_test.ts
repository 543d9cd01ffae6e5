import assert from "node:assert/strict";
import type { LimitRequest } from "../../src/limiter/types.ts";
import { chunkGroups } from "../../src/store/failure_mode_store.ts";
import { req, setup } from "./_store_stack.ts";

Deno.test("FailureModeStore open mode still denies a cost no window could hold", async () => {
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

Deno.test("FailureModeStore local mode enforces ceil(limit / live nodes) in process", async () => {
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

Deno.test("FailureModeStore local mode divides an explicit gcra burst by the live nodes too", async () => {
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

Deno.test("FailureModeStore local mode divides an explicit token_bucket refill_rate by the live nodes", async () => {
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

Deno.test("FailureModeStore checkMany applies the failure mode to every group", async () => {
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

Deno.test("FailureModeStore checkMany sends a large batch in check-sized chunks, one after the other", async () => {
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
