import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../src/errors.ts";
import { BreakerStore } from "../../src/store/breaker_store.ts";
import { FakeStore } from "../_helpers/fake_store.ts";
import { MARGIN_MS, req, setup, timed, TIMEOUT_MS, waitFor } from "./_store_stack.ts";

Deno.test("BreakerStore passes calls through while the store answers", async () => {
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

Deno.test("BreakerStore answers a hanging check within the deadline, open: allowed and marked", async () => {
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

Deno.test("BreakerStore closed mode throws StoreUnavailableError with the failure's kind", async () => {
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

Deno.test("BreakerStore checkMany counts a failed batch as one breaker failure and degrades only the rest", async () => {
  const { inner, store, metric, breaker } = setup("open", {
    batchChunkLimits: 10,
    failureThreshold: 2,
  });
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
    assert.equal(breaker.circuitState, "closed");
    assert.equal(await metric(/^ratelimiter_store_errors_total\{kind="connection"/), 1);
  } finally {
    await store.close();
  }
});

Deno.test("BreakerStore opens the circuit after 3 failures and stops calling the store", async () => {
  const { inner, store, metric, logs, breaker } = setup("open", { probeIntervalMs: 60_000 });
  inner.mode = "fail";
  try {
    for (let i = 0; i < 10; i++) {
      const outcome = await store.check([req("k")]);
      assert.equal(outcome.degraded, "open");
    }
    assert.equal(inner.calls.check, 3);
    assert.equal(breaker.circuitState, "open");
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

Deno.test("BreakerStore probes while open and closes once the store answers", async () => {
  const { inner, store, metric, logs, breaker } = setup("open");
  inner.mode = "fail";
  try {
    for (let i = 0; i < 20; i++) await store.check([req("k")]);
    assert.equal(breaker.circuitState, "open");
    // Let a few probes fail, then bring the store back.
    await waitFor(() => inner.calls.ping >= 2, "two probes");
    assert.equal(breaker.circuitState, "open");
    inner.mode = "up";
    await waitFor(() => breaker.circuitState === "closed", "the circuit to close");
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

Deno.test("BreakerStore keeps one probe in flight at most while the store hangs", async () => {
  const { inner, store, breaker } = setup("open");
  inner.mode = "hang";
  try {
    await Promise.all([1, 2, 3].map(() => store.check([req("k")])));
    assert.equal(breaker.circuitState, "open");
    await waitFor(() => inner.calls.ping === 1, "the first probe");
    // Several intervals pass; the unanswered PING is not sent again.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(inner.calls.ping, 1);
    assert.equal(breaker.circuitState, "open");
    inner.mode = "up";
    inner.release();
    await waitFor(() => breaker.circuitState === "closed", "the circuit to close");
    assert.equal(breaker.inFlight, 0);
  } finally {
    await store.close();
  }
});

Deno.test("BreakerStore bounds calls waiting on a silent store (maxInFlight)", async () => {
  const { inner, store, metric, breaker } = setup("open", {
    maxInFlight: 2,
    failureThreshold: 100,
  });
  inner.mode = "hang";
  try {
    await Promise.all([store.check([req("a")]), store.check([req("b")])]);
    assert.equal(breaker.inFlight, 2);
    const third = await store.check([req("c")]);
    assert.equal(third.degraded, "open");
    assert.equal(inner.calls.check, 2);
    assert.equal(await metric(/^ratelimiter_store_errors_total\{kind="overload"/), 1);
    // The late replies arrive, and are counted by the store: nothing is lost.
    inner.release();
    await waitFor(() => breaker.inFlight === 0, "late replies");
    assert.equal(await inner.memory.countCounters(), 2);
  } finally {
    await store.close();
  }
});

Deno.test("BreakerStore gives management calls a deadline too", async () => {
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

Deno.test("BreakerStore lets errors that are not outages through without tripping", async () => {
  const { store, breaker } = setup("open");
  try {
    for (let i = 0; i < 5; i++) {
      await assert.rejects(store.listCounters({ limit: 5, cursor: "bad" }), RangeError);
    }
    assert.equal(breaker.circuitState, "closed");
  } finally {
    await store.close();
  }
});

Deno.test("BreakerStore rejects a deadline that is not positive", () => {
  assert.throws(() => new BreakerStore({ inner: new FakeStore(), timeoutMs: 0 }), RangeError);
});

Deno.test("BreakerStore takes the failure's kind from the error, connection when unset", async () => {
  const { inner, breaker, metric } = setup("closed");
  inner.check = () => Promise.reject(new StoreUnavailableError("Redis did not answer"));
  try {
    const error = await breaker.check([req("k")]).then(() => undefined, (e) => e);
    assert.ok(error instanceof StoreUnavailableError);
    assert.equal(error.kind, "connection");
    // Counted here, once: app.onError must not count it again.
    assert.equal(error.counted, true);
    assert.equal(await metric(/^ratelimiter_store_errors_total\{kind="connection"/), 1);
  } finally {
    await breaker.close();
  }
});

Deno.test("BreakerStore: failures of one cluster master (partial) never open the circuit", async () => {
  const { inner, store, breaker } = setup("open");
  const partial = () =>
    Promise.reject(
      new StoreUnavailableError("one master down", { kind: "connection", partial: true }),
    );
  const check = inner.check.bind(inner);
  inner.check = partial;
  try {
    for (let i = 0; i < 10; i++) {
      const outcome = await store.check([req("k")]);
      assert.equal(outcome.degraded, "open", "that key answers in the failure mode");
    }
    assert.equal(breaker.circuitState, "closed");
    // The same failures, not partial, open it.
    inner.check = () => Promise.reject(new StoreUnavailableError("down", { kind: "connection" }));
    for (let i = 0; i < 3; i++) await store.check([req("k")]);
    assert.equal(breaker.circuitState, "open");
  } finally {
    inner.check = check;
    await store.close();
  }
});
