import assert from "node:assert/strict";
import { Deadlines, TIMED_OUT } from "../../src/store/deadlines.ts";

/** Generous slack over a deadline on a shared machine: a bound on hanging, not a speed test. */
const MARGIN_MS = 1000;

const never = () => new Promise<never>(() => {});

Deno.test("Deadlines.race passes a value or an error through and leaves no timer", async () => {
  const deadlines = new Deadlines();
  assert.equal(await deadlines.race(Promise.resolve(7), 50), 7);
  await assert.rejects(deadlines.race(Promise.reject(new Error("boom")), 50), /boom/);
  assert.equal(deadlines.pending, 0);
  deadlines.stop(); // the test's op sanitizer fails if an interval is left
});

Deno.test("Deadlines.race times out a call that does not settle, within its deadline plus a margin", async () => {
  const deadlines = new Deadlines({ granularityMs: 5 });
  const started = performance.now();
  const results = await Promise.all([deadlines.race(never(), 30), deadlines.race(never(), 60)]);
  const ms = performance.now() - started;
  assert.deepEqual(results, [TIMED_OUT, TIMED_OUT]);
  assert.ok(ms >= 60, `timed out after ${ms} ms, before the deadline`);
  assert.ok(ms < 60 + MARGIN_MS, `timed out after ${ms} ms`);
  assert.equal(deadlines.pending, 0);
  // The tick that found nothing pending stopped the timer: no stop() here.
});

Deno.test("Deadlines.race ignores a settlement after the timeout", async () => {
  const deadlines = new Deadlines();
  let resolve!: (value: number) => void;
  const late = new Promise<number>((r) => resolve = r);
  assert.equal(await deadlines.race(late, 20), TIMED_OUT);
  resolve(1);
  await late;
  assert.equal(deadlines.pending, 0);
  deadlines.stop();
});

Deno.test("Deadlines leaves a stall of this process out of the calls due after it, so they read their replies", async () => {
  const deadlines = new Deadlines({ granularityMs: 5 });
  // The reply is there (queued behind the stall) but only runs after the next timer phase.
  const reply = new Promise<string>((resolve) => setTimeout(() => resolve("reply"), 20));
  const racing = deadlines.race(reply, 20);
  const until = performance.now() + 100;
  while (performance.now() < until) { /* stall the event loop past the deadline */ }
  assert.equal(await racing, "reply");
  // Without the reply, a stalled call still times out once its own time has passed.
  const stalled = deadlines.race(never(), 20);
  const until2 = performance.now() + 100;
  while (performance.now() < until2) { /* stall */ }
  assert.equal(await stalled, TIMED_OUT);
  assert.equal(deadlines.pending, 0);
  deadlines.stop();
});

Deno.test("Deadlines gives work held up by a long stall up to the call's own deadline", async () => {
  const deadlines = new Deadlines({ granularityMs: 5 });
  // The command itself was held up by the stall: its reply takes 30 ms more after it ends, more
  // than the short grace, less than the call's 100 ms deadline.
  let startReply = () => {};
  const reply = new Promise<string>((resolve) => {
    startReply = () => setTimeout(() => resolve("reply"), 30);
  });
  const racing = deadlines.race(reply, 100);
  queueMicrotask(() => startReply());
  const until = performance.now() + 300;
  while (performance.now() < until) { /* stall the event loop well past the deadline */ }
  assert.equal(await racing, "reply");
  deadlines.stop();
});

/** Holds the event loop for `ms` of wall time, then lets one macrotask run. */
async function stallRepeatedly(times: number, ms: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const until = performance.now() + ms;
    while (performance.now() < until) { /* stall */ }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

Deno.test("Deadlines leaves every stall out, not only the first: a burst of node work is not the store's fault", async () => {
  const deadlines = new Deadlines({ granularityMs: 5 });
  // The reply is ready after the burst: the call had almost no time of its own to get it.
  let answer = () => {};
  const reply = new Promise<string>((resolve) => answer = () => resolve("reply"));
  const racing = deadlines.race(reply, 100);
  // Eight stalls of 40 ms each: 320 ms of wall time, three times the deadline, nearly all of it
  // stalled (each tick still counts its own few ms).
  await stallRepeatedly(8, 40);
  answer();
  assert.equal(await racing, "reply");
  assert.ok(deadlines.stalledMs >= 200, `measured ${deadlines.stalledMs} ms of stall`);
  deadlines.stop();
});

Deno.test("Deadlines still times out a call the store never answers while this process keeps stalling", async () => {
  const deadlines = new Deadlines({ granularityMs: 5 });
  const racing = deadlines.race(never(), 20);
  let result: unknown = "pending";
  racing.then((r) => result = r);
  // Each stall leaves at least one tick's worth of time: 20 ms of it passes within a few ticks.
  for (let i = 0; i < 200 && result === "pending"; i++) await stallRepeatedly(1, 20);
  assert.equal(result, TIMED_OUT);
  assert.equal(deadlines.pending, 0);
});
