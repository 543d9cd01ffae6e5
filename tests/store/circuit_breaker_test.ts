import assert from "node:assert/strict";
import { createManualClock } from "../_helpers/manual_clock.ts";
import { CircuitBreaker, type CircuitTransition } from "../../src/store/circuit_breaker.ts";

function makeBreaker(failureThreshold = 3, probeIntervalMs = 500) {
  const clock = createManualClock(0);
  const transitions: CircuitTransition[] = [];
  const breaker = new CircuitBreaker({
    failureThreshold,
    probeIntervalMs,
    clock,
    onTransition: (t) => transitions.push(t),
  });
  return { clock, breaker, transitions };
}

Deno.test("CircuitBreaker opens after the threshold of consecutive failures, not before", () => {
  const { breaker, transitions } = makeBreaker(3);
  assert.equal(breaker.state, "closed");
  breaker.recordFailure("timeout");
  breaker.recordFailure("timeout");
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.allowsCalls(), true);
  breaker.recordFailure("connection: socket closed");
  assert.equal(breaker.state, "open");
  assert.equal(breaker.allowsCalls(), false);
  assert.equal(transitions.length, 1);
  assert.equal(transitions[0]!.from, "closed");
  assert.equal(transitions[0]!.to, "open");
  assert.match(transitions[0]!.reason, /3 consecutive failures, last: connection: socket closed/);
});

Deno.test("CircuitBreaker resets the failure count on a success while closed", () => {
  const { breaker } = makeBreaker(3);
  breaker.recordFailure("a");
  breaker.recordFailure("b");
  breaker.recordSuccess();
  assert.equal(breaker.failures, 0);
  breaker.recordFailure("c");
  breaker.recordFailure("d");
  assert.equal(breaker.state, "closed");
});

Deno.test("CircuitBreaker grants one probe per interval while open", () => {
  const { clock, breaker } = makeBreaker(1, 500);
  breaker.recordFailure("down");
  assert.equal(breaker.msUntilProbe(), 500);
  assert.equal(breaker.tryStartProbe(), false);
  clock.advance(499);
  assert.equal(breaker.tryStartProbe(), false);
  assert.equal(breaker.msUntilProbe(), 1);
  clock.advance(1);
  assert.equal(breaker.tryStartProbe(), true);
  assert.equal(breaker.state, "half_open");
  // Only one probe at a time, and ordinary calls stay refused while it runs.
  assert.equal(breaker.tryStartProbe(), false);
  assert.equal(breaker.allowsCalls(), false);
  assert.equal(breaker.msUntilProbe(), Infinity);
});

Deno.test("CircuitBreaker reopens for another interval when the probe fails", () => {
  const { clock, breaker, transitions } = makeBreaker(1, 500);
  breaker.recordFailure("down");
  clock.advance(500);
  assert.ok(breaker.tryStartProbe());
  breaker.probeFailed("ECONNREFUSED");
  assert.equal(breaker.state, "open");
  assert.equal(breaker.msUntilProbe(), 500);
  assert.equal(transitions.at(-1)!.from, "half_open");
  assert.match(transitions.at(-1)!.reason, /probe failed: ECONNREFUSED/);
});

Deno.test("CircuitBreaker closes when the probe succeeds and reports how long it was down", () => {
  const { clock, breaker, transitions } = makeBreaker(2, 500);
  breaker.recordFailure("x");
  breaker.recordFailure("x");
  clock.advance(500);
  assert.ok(breaker.tryStartProbe());
  breaker.probeFailed("still down");
  clock.advance(500);
  assert.ok(breaker.tryStartProbe());
  breaker.probeSucceeded();
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.allowsCalls(), true);
  assert.equal(breaker.failures, 0);
  const closed = transitions.at(-1)!;
  assert.equal(closed.to, "closed");
  assert.equal(closed.downMs, 1000);
  assert.deepEqual(transitions.map((t) => t.to), [
    "open",
    "half_open",
    "open",
    "half_open",
    "closed",
  ]);
});

Deno.test("CircuitBreaker ignores late outcomes of calls while not closed", () => {
  const { clock, breaker, transitions } = makeBreaker(1, 500);
  breaker.recordFailure("down");
  // A reply to a call sent before the circuit opened must not close it.
  breaker.recordSuccess();
  assert.equal(breaker.state, "open");
  breaker.recordFailure("late failure");
  assert.equal(breaker.msUntilProbe(), 500);
  clock.advance(500);
  breaker.tryStartProbe();
  breaker.recordSuccess();
  assert.equal(breaker.state, "half_open");
  // Probe outcomes are ignored unless half-open.
  breaker.probeSucceeded();
  breaker.probeSucceeded();
  assert.equal(transitions.filter((t) => t.to === "closed").length, 1);
});

Deno.test("CircuitBreaker rejects a threshold below 1 and a negative interval", () => {
  assert.throws(() => new CircuitBreaker({ failureThreshold: 0 }), RangeError);
  assert.throws(() => new CircuitBreaker({ failureThreshold: 1.5 }), RangeError);
  assert.throws(() => new CircuitBreaker({ probeIntervalMs: -1 }), RangeError);
});
