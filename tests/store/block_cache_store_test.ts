import assert from "node:assert/strict";
import { createManualClock, type ManualClock } from "../_helpers/manual_clock.ts";
import { MemoryEvents } from "../../src/cluster/memory_events.ts";
import {
  type Algorithm,
  ALGORITHMS,
  type CheckOutcome,
  combineDecisions,
  type Decision,
  type LimitRequest,
} from "../../src/limiter/types.ts";
import { BLOCK_CACHE_ALGORITHMS, BlockCacheStore } from "../../src/store/block_cache_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { CounterPage, Store, StoreStatus } from "../../src/store/types.ts";
import { runStoreCases, SLIDING_LOG_CASES } from "./_cases.ts";
import { Rng } from "../_helpers/random.ts";

const req = (key: string, extra: Partial<LimitRequest> = {}): LimitRequest => ({
  key,
  algorithm: "sliding_log",
  limit: 10,
  windowMs: 1000,
  cost: 1,
  ...extra,
});

const denied = (retryAfterMs: number, extra: Partial<Decision> = {}): Decision => ({
  allowed: false,
  count: 10,
  remaining: 0,
  retryAfterMs,
  resetAfterMs: retryAfterMs,
  ...extra,
});

const allowed: Decision = {
  allowed: true,
  count: 1,
  remaining: 9,
  retryAfterMs: 0,
  resetAfterMs: 1,
};

/** An inner store answering from a script of decisions, counting calls, optionally slow. */
class FakeStore implements Store {
  readonly kind = "redis" as const;
  calls: LimitRequest[][] = [];
  resets: string[] = [];
  /** Next decisions, one per limit of each call; the last one repeats. */
  answers: (Decision[] | Error | "degraded")[] = [];
  /** Milliseconds each call takes on the manual clock (the round trip). */
  rttMs = 0;
  /** When set, calls wait for it before answering. */
  gate: Promise<void> | undefined;
  constructor(readonly clock: ManualClock) {}

  async check(requests: LimitRequest[]): Promise<CheckOutcome> {
    this.calls.push(requests);
    const answer = this.answers.length > 1 ? this.answers.shift()! : this.answers[0]!;
    if (this.gate !== undefined) await this.gate;
    this.clock.advance(this.rttMs);
    if (answer instanceof Error) throw answer;
    if (answer === "degraded") {
      return {
        allowed: true,
        decisions: requests.map(() => allowed),
        deniedIndex: -1,
        degraded: "open",
      };
    }
    return combineDecisions(answer.map((d) => ({ ...d })));
  }
  checkMany(groups: LimitRequest[][]): Promise<CheckOutcome[]> {
    return Promise.all(groups.map((g) => this.check(g)));
  }
  reset(key: string): Promise<boolean> {
    this.resets.push(key);
    return Promise.resolve(true);
  }
  listCounters(): Promise<CounterPage> {
    return Promise.resolve({ counters: [], nextCursor: undefined });
  }
  countCounters(): Promise<number> {
    return Promise.resolve(7);
  }
  ping(): Promise<void> {
    return Promise.resolve();
  }
  status(): StoreStatus {
    return "up";
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function setup(options: { maxKeys?: number } = {}) {
  const clock = createManualClock(0);
  const inner = new FakeStore(clock);
  const events = new MemoryEvents();
  let hits = 0;
  const store = new BlockCacheStore({
    inner,
    events,
    clock,
    onHit: () => hits++,
    ...options,
  });
  return { clock, inner, events, store, hits: () => hits };
}

Deno.test("BlockCacheStore answers a blocked key from memory until it unblocks", async () => {
  const { clock, inner, store, hits } = setup();
  inner.answers = [[denied(300, { count: 10, remaining: 0, resetAfterMs: 300 })]];
  const first = await store.check([req("k")]);
  assert.equal(first.allowed, false);
  assert.equal(inner.calls.length, 1);

  clock.advance(100);
  const cached = await store.check([req("k")]);
  assert.equal(inner.calls.length, 1, "answered without the store");
  assert.deepEqual(cached, {
    allowed: false,
    deniedIndex: 0,
    decisions: [{ allowed: false, count: 10, remaining: 0, retryAfterMs: 200, resetAfterMs: 200 }],
  });
  assert.equal(hits(), 1);
  assert.equal(store.hits, 1);

  clock.set(298);
  await store.check([req("k")]);
  assert.equal(inner.calls.length, 1, "still blocked at 298 ms");
  clock.set(299);
  inner.answers = [[allowed]];
  const after = await store.check([req("k")]);
  assert.equal(inner.calls.length, 2, "asks the store from retry − 1 ms on");
  assert.equal(after.allowed, true);
});

Deno.test("BlockCacheStore counts a block from when the store call started, not ended", async () => {
  const { clock, inner, store } = setup();
  inner.rttMs = 40;
  inner.answers = [[denied(100)]];
  await store.check([req("k")]); // started at 0, answered at 40: the block holds until 99
  assert.equal(clock(), 40);
  clock.set(98);
  const cached = await store.check([req("k")]);
  assert.equal(inner.calls.length, 1);
  // The reported retry is never early: the call ended at 40, so 40 + 100 − 98.
  assert.equal(cached.decisions[0]!.retryAfterMs, 42);
  clock.set(99);
  await store.check([req("k")]);
  assert.equal(inner.calls.length, 2);
});

Deno.test("BlockCacheStore does not remember a block shorter than the round trip", async () => {
  const { inner, store } = setup();
  inner.rttMs = 50;
  inner.answers = [[denied(30)]];
  await store.check([req("k")]);
  await store.check([req("k")]);
  assert.equal(inner.calls.length, 2);
  assert.equal(store.size, 0);
});

Deno.test("BlockCacheStore answers only the cost that was denied (a peek counts as 1)", async (t) => {
  await t.step("a cost-1 denial answers cost 1 and peeks, not cost 5", async () => {
    const { inner, store } = setup();
    inner.answers = [[denied(500)]];
    await store.check([req("k")]);
    assert.equal((await store.check([req("k")])).allowed, false);
    assert.equal((await store.check([req("k", { cost: 0 })])).allowed, false);
    assert.equal(inner.calls.length, 1);
    // Cost 5 is denied too, but its retry time is later than the block knows.
    await store.check([req("k", { cost: 5 })]);
    assert.equal(inner.calls.length, 2);
  });
  await t.step("a cost-5 denial answers cost 5 only", async () => {
    for (const other of [1, 0, 7]) {
      const { inner, store } = setup();
      inner.answers = [[denied(500, { count: 6, remaining: 4 })]];
      await store.check([req("k", { cost: 5 })]);
      await store.check([req("k", { cost: 5 })]);
      assert.equal(inner.calls.length, 1);
      await store.check([req("k", { cost: other })]);
      assert.equal(inner.calls.length, 2, `cost ${other} asks the store`);
    }
  });
  await t.step("an allowed request under the same parameters drops the blocks", async () => {
    const { inner, store } = setup();
    inner.answers = [[denied(500, { count: 6, remaining: 4 })], [allowed], [denied(500)]];
    await store.check([req("k", { cost: 5 })]);
    await store.check([req("k", { cost: 1 })]); // allowed: the count moved
    await store.check([req("k", { cost: 5 })]);
    assert.equal(inner.calls.length, 3);
  });
});

Deno.test("BlockCacheStore keys blocks by algorithm, limit and window", async () => {
  const { inner, store } = setup();
  inner.answers = [[denied(500)]];
  await store.check([req("k")]);
  await store.check([req("k", { limit: 11 })]);
  await store.check([req("k", { windowMs: 2000 })]);
  await store.check([req("other")]);
  assert.equal(inner.calls.length, 4);
  await store.check([req("k")]);
  await store.check([req("k", { limit: 11 })]);
  assert.equal(inner.calls.length, 4, "each parameter set is remembered on its own");
});

Deno.test("BlockCacheStore remembers nothing for algorithms outside its list", async () => {
  const clock = createManualClock(0);
  const inner = new FakeStore(clock);
  inner.answers = [[denied(500)]];
  const store = new BlockCacheStore({ inner, events: new MemoryEvents(), clock, algorithms: [] });
  await store.check([req("k")]);
  await store.check([req("k")]);
  assert.equal(inner.calls.length, 2);
});

Deno.test("BlockCacheStore forgets a key on override_changed and counter_reset events", async () => {
  for (const type of ["override_changed", "counter_reset"] as const) {
    const { inner, events, store } = setup();
    inner.answers = [[denied(500)]];
    await store.check([req("k")]);
    await store.check([req("j")]);
    await events.publish({ type, key: "k" });
    await store.check([req("k")]);
    await store.check([req("j")]);
    assert.equal(inner.calls.length, 3, type);
  }
});

Deno.test("BlockCacheStore does not learn a denial that was in flight across an invalidation", async () => {
  const { inner, events, store } = setup();
  inner.answers = [[denied(500)]];
  let open!: () => void;
  inner.gate = new Promise((resolve) => open = resolve);
  const pending = store.check([req("k")]);
  await events.publish({ type: "counter_reset", key: "k" });
  open();
  assert.equal((await pending).allowed, false);
  inner.gate = undefined;
  await store.check([req("k")]);
  assert.equal(inner.calls.length, 2, "the pre-reset denial was not remembered");
});

Deno.test("BlockCacheStore.reset() forgets the key and resets the inner store", async () => {
  const { inner, store } = setup();
  inner.answers = [[denied(500)]];
  await store.check([req("k")]);
  assert.equal(await store.reset("k"), true);
  assert.deepEqual(inner.resets, ["k"]);
  await store.check([req("k")]);
  assert.equal(inner.calls.length, 2);
});

Deno.test("BlockCacheStore forgets everything after a failed or degraded store call", async () => {
  const { inner, store } = setup();
  inner.answers = [[denied(500)], new Error("down"), "degraded", [denied(500)]];
  await store.check([req("a")]);
  await assert.rejects(store.check([req("b")]), /down/);
  assert.equal(store.size, 0);
  await store.check([req("a")]); // degraded: not learnt
  assert.equal(store.size, 0);
  await store.check([req("a")]);
  assert.equal(store.size, 1);
});

Deno.test("BlockCacheStore answers a multi-limit check only when every limit is blocked", async () => {
  const { inner, store } = setup();
  const both = [req("a"), req("b", { limit: 5 })];
  inner.answers = [[denied(400), denied(600, { count: 5 })]];
  const first = await store.check(both);
  assert.equal(first.deniedIndex, 0);
  const cached = await store.check(both);
  assert.equal(inner.calls.length, 1);
  assert.equal(cached.allowed, false);
  assert.equal(cached.deniedIndex, 0);
  assert.deepEqual(cached.decisions.map((d) => [d.allowed, d.count]), [[false, 10], [false, 5]]);
  // A group with one limit not known blocked goes to the store: its state must be reported.
  inner.answers = [[denied(400), allowed]];
  await store.check([req("a"), req("c")]);
  assert.equal(inner.calls.length, 2);
  // Each denial of a multi-limit check is learnt on its own.
  await store.check([req("b", { limit: 5 })]);
  assert.equal(inner.calls.length, 2);
});

Deno.test("BlockCacheStore.checkMany() mixes answers from memory and the store in order", async () => {
  const { inner, store, hits } = setup();
  inner.answers = [[denied(500)]];
  await store.check([req("blocked")]);
  inner.answers = [[allowed]];
  const outcomes = await store.checkMany([[req("x")], [req("blocked")], [req("y")]]);
  assert.deepEqual(outcomes.map((o) => o.allowed), [true, false, true]);
  assert.deepEqual(inner.calls.slice(1).map((c) => c[0]!.key), ["x", "y"]);
  assert.equal(hits(), 1);
});

Deno.test("BlockCacheStore holds at most maxKeys keys, dropping expired ones first", async () => {
  const { clock, inner, store } = setup({ maxKeys: 5 });
  inner.answers = [[denied(100)]];
  await store.check([req("short")]);
  inner.answers = [[denied(10_000)]];
  for (let i = 0; i < 4; i++) await store.check([req(`k${i}`)]);
  clock.advance(200); // "short" has expired
  await store.check([req("k4")]);
  assert.equal(store.size, 5);
  const calls = inner.calls.length;
  for (let i = 0; i < 5; i++) await store.check([req(`k${i}`)]);
  assert.equal(inner.calls.length, calls, "live keys survived; the expired one went");
  for (let i = 5; i < 20; i++) await store.check([req(`k${i}`)]);
  assert.equal(store.size, 5);
  assert.throws(
    () => new BlockCacheStore({ inner, events: new MemoryEvents(), maxKeys: 0 }),
    RangeError,
  );
});

Deno.test("BlockCacheStore delegates the rest and unsubscribes on close", async () => {
  const clock = createManualClock(0);
  const inner = new FakeStore(clock);
  let listeners = 0;
  const events = new MemoryEvents();
  const counting = {
    publish: (e: Parameters<MemoryEvents["publish"]>[0]) => events.publish(e),
    subscribe: (listener: Parameters<MemoryEvents["subscribe"]>[0]) => {
      listeners++;
      const stop = events.subscribe(listener);
      return () => {
        listeners--;
        stop();
      };
    },
    close: () => events.close(),
  };
  const store = new BlockCacheStore({ inner, events: counting, clock });
  assert.equal(listeners, 1);
  assert.equal(store.kind, "redis");
  assert.equal(await store.countCounters(), 7);
  assert.equal(store.status(), "up");
  assert.deepEqual(await store.listCounters({ limit: 10 }), {
    counters: [],
    nextCursor: undefined,
  });
  await store.close();
  assert.equal(listeners, 0);
});

Deno.test("BlockCacheStore over MemoryStore passes the shared sliding-log cases", async (t) => {
  await runStoreCases(
    t,
    SLIDING_LOG_CASES,
    (clock) =>
      new BlockCacheStore({
        inner: new MemoryStore({ clock, sweepIntervalMs: 0 }),
        events: new MemoryEvents(),
        clock,
      }),
  );
});

/** Runs one random workload through a bare store and a cached one; returns the cache's hits. */
async function compareWorkload(
  algorithm: Algorithm,
  params: Record<string, Pick<LimitRequest, "limit" | "windowMs" | "burst" | "refillRate">[]>,
  compare: (expected: CheckOutcome, actual: CheckOutcome, where: string) => void,
): Promise<number> {
  // Two embedded stores see the same requests at the same times; one sits behind the cache.
  const clock = createManualClock(1_750_000_000_000);
  const bare = new MemoryStore({ clock, sweepIntervalMs: 0 });
  const cached = new BlockCacheStore({
    inner: new MemoryStore({ clock, sweepIntervalMs: 0 }),
    events: new MemoryEvents(),
    clock,
  });
  const rng = new Rng(42);
  const random = () => rng.next();
  const keys = Object.keys(params);
  for (let i = 0; i < 5000; i++) {
    clock.advance(Math.floor(random() * 20));
    const group: LimitRequest[] = [];
    const size = random() < 0.1 ? 2 : 1;
    for (let j = 0; j < size; j++) {
      const key = keys[Math.floor(random() * keys.length)]!;
      const choices = params[key]!;
      group.push(req(key + j, {
        algorithm,
        ...choices[Math.floor(random() * choices.length)]!,
        cost: random() < 0.8 ? 1 : Math.floor(random() * 4),
      }));
    }
    compare(await bare.check(group), await cached.check(group), `${algorithm} request ${i}`);
  }
  await bare.close();
  await cached.close();
  return cached.hits;
}

Deno.test("BlockCacheStore never changes an answer: random workload against a bare store", async () => {
  // Denied requests change no state, so with one limit and window per key every answer matches.
  // Every algorithm admitted to the cache must pass this.
  for (const algorithm of BLOCK_CACHE_ALGORITHMS) {
    const hits = await compareWorkload(algorithm, {
      a: [{ limit: 3, windowMs: 200 }],
      b: [{ limit: 5, windowMs: 1000 }],
      c: [{ limit: 1, windowMs: 50 }],
    }, (expected, actual, where) => assert.deepEqual(actual, expected, where));
    assert.ok(hits > 500, `the cache answered ${hits} ${algorithm} checks`);
  }
});

Deno.test("BlockCacheStore never changes a decision when a key is checked under several limits", async () => {
  // Consumption under another limit raises the count a remembered block reports, never the
  // decision: the block still ends no later than the store's.
  for (const algorithm of BLOCK_CACHE_ALGORITHMS) {
    const hits = await compareWorkload(
      algorithm,
      { b: [{ limit: 5, windowMs: 1000 }, { limit: 8, windowMs: 1000 }] },
      (expected, actual, where) => {
        assert.equal(actual.allowed, expected.allowed, where);
        assert.equal(actual.deniedIndex, expected.deniedIndex, where);
      },
    );
    assert.ok(hits > 500, `the cache answered ${hits} ${algorithm} checks`);
  }
});

/** A cache over a real embedded store on a manual clock. */
function overMemory(algorithms?: readonly Algorithm[]) {
  const clock = createManualClock(1_750_000_000_000);
  const store = new BlockCacheStore({
    inner: new MemoryStore({ clock, sweepIntervalMs: 0 }),
    events: new MemoryEvents(),
    clock,
    ...(algorithms === undefined ? {} : { algorithms }),
  });
  return { clock, store };
}

Deno.test("BlockCacheStore does not answer a gcra burst from a denial under another burst", async () => {
  const { store } = overMemory();
  const gcra = req("k", { algorithm: "gcra", limit: 10, windowMs: 60_000, burst: 1 });
  assert.equal((await store.check([gcra])).allowed, true);
  assert.equal((await store.check([gcra])).allowed, false);
  assert.equal((await store.check([gcra])).allowed, false);
  assert.equal(store.hits, 1, "the burst-1 denial is remembered");
  // Under burst 10 the store allows: 1 cell in use of 10.
  const wide = await store.check([{ ...gcra, burst: 10 }]);
  assert.equal(wide.allowed, true);
  assert.equal(store.hits, 1, "decided by the store");
  await store.close();
});

Deno.test("BlockCacheStore does not answer a token_bucket refill rate from a denial under another", async () => {
  const { clock, store } = overMemory();
  const slow = req("k", { algorithm: "token_bucket", limit: 2, windowMs: 60_000, refillRate: 1 });
  await store.check([{ ...slow, cost: 2 }]);
  assert.equal((await store.check([slow])).allowed, false);
  clock.advance(1000);
  // At 600 tokens a minute, 1 s refilled 10 tokens (capped at 2); at 1 a minute, none.
  const fast = await store.check([{ ...slow, refillRate: 600 }]);
  assert.equal(fast.allowed, true);
  assert.equal(store.hits, 0);
  await store.close();
});

Deno.test("BlockCacheStore forgets a key's blocks when a check under other parameters is allowed", async () => {
  // A token bucket checked under a faster rate gains tokens for the time since its last check, so
  // a denial learnt under the slow rate can end early: the allowed check must drop it.
  const { clock, store } = overMemory();
  const slow = req("k", { algorithm: "token_bucket", limit: 1, windowMs: 1000 });
  assert.equal((await store.check([slow])).allowed, true);
  assert.equal((await store.check([slow])).allowed, false);
  clock.advance(100);
  // Limit 20 per second: 100 ms refilled 2 tokens.
  assert.equal((await store.check([{ ...slow, limit: 20 }])).allowed, true);
  const again = await store.check([slow]);
  assert.equal(again.allowed, true, "the store has a token for it");
  assert.equal(store.hits, 0);
  await store.close();
});

Deno.test("BlockCacheStore answers from memory for exactly the algorithms it can vouch for", async () => {
  // Pins BLOCK_CACHE_ALGORITHMS by behaviour: sliding_window's weighted estimate is not among the
  // algorithms whose denial the cache may repeat, so its checks always reach the store.
  const expected: Record<Algorithm, boolean> = {
    sliding_log: true,
    sliding_window: false,
    fixed_window: true,
    token_bucket: true,
    gcra: true,
  };
  for (const algorithm of ALGORITHMS) {
    const { store } = overMemory();
    const request = req("k", { algorithm, limit: 1, windowMs: 60_000 });
    await store.check([request]);
    assert.equal((await store.check([request])).allowed, false, algorithm);
    assert.equal((await store.check([request])).allowed, false, algorithm);
    assert.equal(store.hits === 1, expected[algorithm], `${algorithm}: ${store.hits} hits`);
    await store.close();
  }
});

Deno.test("BlockCacheStore never changes a gcra decision when a key is checked under several bursts", async () => {
  // A gcra key holds one time (TAT) that every allowed check moves later, whatever the burst, and
  // expires at it: a denial under one burst cannot end early. (A token bucket checked under several
  // refill rates can: its key expires when full at the last writer's rate; see the README.)
  const set = [1, 3, 10].map((burst) => ({ limit: 10, windowMs: 1000, burst }));
  const hits = await compareWorkload("gcra", { b: set }, (expected, actual, where) => {
    assert.equal(actual.allowed, expected.allowed, where);
    assert.equal(actual.deniedIndex, expected.deniedIndex, where);
  });
  assert.ok(hits > 100, `the cache answered ${hits} gcra checks`);
});
