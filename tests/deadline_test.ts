import assert from "node:assert/strict";
import { DEADLINE_PASSED, withDeadline } from "../src/deadline.ts";

Deno.test("withDeadline() passes a value or an error through and leaves no timer", async () => {
  assert.equal(await withDeadline(Promise.resolve(7), 10_000), 7);
  await assert.rejects(withDeadline(Promise.reject(new TypeError("bad")), 10_000), TypeError);
});

Deno.test("withDeadline() answers DEADLINE_PASSED once the deadline passes first", async () => {
  let release = () => {};
  const never = new Promise<string>((resolve) => release = () => resolve("late"));
  assert.equal(await withDeadline(never, 5), DEADLINE_PASSED);
  release();
  // A rejection after the deadline is swallowed, not an unhandled rejection.
  let fail = (_e: Error) => {};
  const rejected = new Promise<string>((_resolve, reject) => fail = reject);
  assert.equal(await withDeadline(rejected, 5), DEADLINE_PASSED);
  fail(new Error("late"));
  await new Promise((resolve) => setTimeout(resolve, 0));
});
