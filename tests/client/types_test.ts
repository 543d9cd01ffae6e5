/**
 * The client's request and answer types against the schemas and types the routes use: a change
 * on either side that the other does not follow fails `deno check` (and so `deno test`) here.
 */
import assert from "node:assert/strict";
import type { z } from "zod";
import type {
  batchBodySchema,
  checkBodySchema,
  limitItemSchema,
  peekQuerySchema,
} from "../../src/http/check_input.ts";
import type {
  CheckAnswer as RouteCheckAnswer,
  MultiCheckAnswer as RouteMultiCheckAnswer,
} from "../../src/http/routes/check.ts";
import type { CounterView, overrideBodySchema } from "../../src/http/routes/admin.ts";
import type { ALGORITHMS } from "../../src/limiter/types.ts";
import type {
  Algorithm,
  CheckAnswer,
  CheckRequest,
  CounterInfo,
  LimitItem,
  MultiCheckAnswer,
  OverrideRequest,
  PeekParams,
} from "../../src/client/mod.ts";

/** True when each of A and B is assignable to the other. */
type Mutual<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false;
/** True when A is assignable to B. */
type Fits<A, B> = [A] extends [B] ? true : false;
/** Every field name of every member of a union. */
type AllKeys<T> = T extends unknown ? keyof T : never;

Deno.test("client types match the route schemas and answers", () => {
  const checks = {
    algorithm: true satisfies Mutual<Algorithm, typeof ALGORITHMS[number]>,
    limitItem: true satisfies Mutual<LimitItem, z.input<typeof limitItemSchema>>,
    // Every body the client's type allows has the schema's static type (the schema's refinements,
    // exactly one of key / limits, are what the union says), and they name the same fields.
    checkBody: true satisfies Fits<CheckRequest, z.input<typeof checkBodySchema>>,
    checkFields: true satisfies Mutual<
      AllKeys<CheckRequest>,
      keyof z.input<typeof checkBodySchema>
    >,
    batch: true satisfies Fits<{ checks: CheckRequest[] }, z.input<typeof batchBodySchema>>,
    peek: true satisfies Mutual<PeekParams, z.output<typeof peekQuerySchema>>,
    override: true satisfies Mutual<OverrideRequest, z.input<typeof overrideBodySchema>>,
    answer: true satisfies Mutual<CheckAnswer, RouteCheckAnswer>,
    multiAnswer: true satisfies Mutual<MultiCheckAnswer, RouteMultiCheckAnswer>,
    counter: true satisfies Mutual<CounterInfo, CounterView>,
  };
  assert.ok(Object.values(checks).every((v) => v));
});
