import assert from "node:assert/strict";
import { ALGORITHM_IMPLS } from "../../src/limiter/algorithms.ts";
import { ALGORITHMS, type LimitRequest } from "../../src/limiter/types.ts";

const START = 1_750_000_000_000;

Deno.test("each algorithm's expiresAt is when its state becomes the same as no state", async (t) => {
  for (const algorithm of ALGORITHMS) {
    await t.step(algorithm, () => {
      const impl = ALGORITHM_IMPLS[algorithm];
      const request: LimitRequest = {
        key: "k",
        algorithm,
        limit: 1000,
        windowMs: 1000,
        cost: 1000,
      };
      const state = impl.commit(undefined, request, START + 250);
      const expires = impl.expiresAt(state);
      const peek = { ...request, cost: 0 };
      // A millisecond earlier the state still counts: it is never dropped early. (Asked first:
      // the sliding log prunes itself in place as time moves on.)
      const before = impl.evaluate(state, peek, expires - 1);
      assert.ok(before.count > 0, JSON.stringify(before));
      for (const at of [expires, expires + 1, expires + 5000]) {
        assert.deepEqual(
          impl.evaluate(state, peek, at),
          impl.evaluate(undefined, peek, at),
          `${at}`,
        );
      }
    });
  }
});

Deno.test("each algorithm's evaluate consumes nothing and commit records its parameters", async (t) => {
  for (const algorithm of ALGORITHMS) {
    await t.step(algorithm, () => {
      const impl = ALGORITHM_IMPLS[algorithm];
      const request: LimitRequest = { key: "k", algorithm, limit: 3, windowMs: 60_000, cost: 1 };
      if (algorithm === "gcra") request.burst = 2;
      if (algorithm === "token_bucket") request.refillRate = 5;
      const state = impl.commit(undefined, request, START);
      const first = impl.evaluate(state, request, START + 1);
      assert.deepEqual(impl.evaluate(state, request, START + 1), first);
      assert.equal(first.allowed, true);
      assert.equal(first.count, 2);
      const params = impl.params(state);
      assert.equal(params.limit, 3);
      assert.equal(params.windowMs, 60_000);
      assert.equal(params.burst, algorithm === "gcra" ? 2 : undefined);
      assert.equal(params.refillRate, algorithm === "token_bucket" ? 5 : undefined);
    });
  }
});
