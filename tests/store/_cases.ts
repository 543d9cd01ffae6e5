/**
 * The shared table of algorithm cases. The same table runs against the embedded store (TypeScript
 * algorithms) and the Redis store (Lua scripts), each with a hand-driven clock, so the two
 * implementations cannot drift apart.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createManualClock, type ManualClock } from "../../src/clock.ts";
import type { Algorithm, Decision, LimitRequest } from "../../src/limiter/types.ts";
import type { Store } from "../../src/store/types.ts";

/** One limit of a step; `key` is made unique per case by the runner. */
export interface CaseLimit {
  key?: string;
  algorithm?: Algorithm;
  limit: number;
  windowMs: number;
  cost?: number;
}

/** One step: at `at` ms after the case starts, check `limits` together and expect `expect`. */
export interface CaseStep {
  at: number;
  limits: CaseLimit[];
  /** Expected outcome; each decision's fields are compared when given. */
  expect: { allowed: boolean; deniedIndex?: number; decisions?: Partial<Decision>[] };
  /** Repeat this step `times` times at the same instant. @default {1} */
  times?: number;
}

/** A named scenario. */
export interface StoreCase {
  name: string;
  steps: CaseStep[];
}

const sl = (limit: number, windowMs: number, extra: Partial<CaseLimit> = {}): CaseLimit => ({
  algorithm: "sliding_log",
  limit,
  windowMs,
  ...extra,
});

/** Cases of the exact sliding log. */
export const SLIDING_LOG_CASES: StoreCase[] = [
  {
    name: "limit 1 allows one request per window",
    steps: [
      {
        at: 0,
        limits: [sl(1, 1000)],
        expect: {
          allowed: true,
          decisions: [{ count: 1, remaining: 0, retryAfterMs: 0, resetAfterMs: 1000 }],
        },
      },
      {
        at: 400,
        limits: [sl(1, 1000)],
        expect: {
          allowed: false,
          deniedIndex: 0,
          decisions: [{ count: 1, remaining: 0, retryAfterMs: 600, resetAfterMs: 600 }],
        },
      },
      { at: 999, limits: [sl(1, 1000)], expect: { allowed: false } },
      { at: 1000, limits: [sl(1, 1000)], expect: { allowed: true, decisions: [{ count: 1 }] } },
    ],
  },
  {
    name: "an entry counts until exactly one window after it",
    steps: [
      { at: 0, limits: [sl(3, 1000)], expect: { allowed: true, decisions: [{ count: 1 }] } },
      { at: 500, limits: [sl(3, 1000)], expect: { allowed: true, decisions: [{ count: 2 }] } },
      {
        at: 999,
        limits: [sl(3, 1000)],
        expect: { allowed: true, decisions: [{ count: 3, remaining: 0, resetAfterMs: 1 }] },
      },
      {
        at: 999,
        limits: [sl(3, 1000)],
        expect: { allowed: false, decisions: [{ count: 3, retryAfterMs: 1 }] },
      },
      {
        at: 1000,
        limits: [sl(3, 1000)],
        expect: { allowed: true, decisions: [{ count: 3, resetAfterMs: 500 }] },
      },
      {
        at: 1499,
        limits: [sl(3, 1000)],
        expect: { allowed: false, decisions: [{ retryAfterMs: 1 }] },
      },
    ],
  },
  {
    name: "a burst at the window boundary is not doubled",
    steps: [
      { at: 999, limits: [sl(5, 1000)], times: 5, expect: { allowed: true } },
      {
        at: 1000,
        limits: [sl(5, 1000)],
        expect: { allowed: false, decisions: [{ count: 5, retryAfterMs: 999 }] },
      },
      { at: 1998, limits: [sl(5, 1000)], expect: { allowed: false } },
      { at: 1999, limits: [sl(5, 1000)], expect: { allowed: true, decisions: [{ count: 1 }] } },
    ],
  },
  {
    name: "denied requests consume nothing",
    steps: [
      { at: 0, limits: [sl(2, 1000)], times: 2, expect: { allowed: true } },
      { at: 10, limits: [sl(2, 1000)], times: 10, expect: { allowed: false } },
      {
        at: 1000,
        limits: [sl(2, 1000)],
        expect: { allowed: true, decisions: [{ count: 1, remaining: 1 }] },
      },
    ],
  },
  {
    name: "state expires after the window",
    steps: [
      { at: 0, limits: [sl(10, 200)], times: 4, expect: { allowed: true } },
      {
        at: 5000,
        limits: [sl(10, 200)],
        expect: { allowed: true, decisions: [{ count: 1, remaining: 9, resetAfterMs: 200 }] },
      },
    ],
  },
  {
    name: "cost consumes several units and a cost that does not fit consumes none",
    steps: [
      {
        at: 0,
        limits: [sl(5, 1000, { cost: 3 })],
        expect: { allowed: true, decisions: [{ count: 3, remaining: 2 }] },
      },
      {
        at: 1,
        limits: [sl(5, 1000, { cost: 3 })],
        expect: { allowed: false, decisions: [{ count: 3, remaining: 2, retryAfterMs: 999 }] },
      },
      {
        at: 2,
        limits: [sl(5, 1000, { cost: 2 })],
        expect: { allowed: true, decisions: [{ count: 5, remaining: 0 }] },
      },
      {
        at: 3,
        limits: [sl(5, 1000, { cost: 6 })],
        expect: { allowed: false, decisions: [{ retryAfterMs: 1000 }] },
      },
    ],
  },
  {
    name: "cost 0 peeks without consuming",
    steps: [
      {
        at: 0,
        limits: [sl(1, 1000, { cost: 0 })],
        expect: { allowed: true, decisions: [{ count: 0, remaining: 1, resetAfterMs: 0 }] },
      },
      { at: 1, limits: [sl(1, 1000)], expect: { allowed: true, decisions: [{ count: 1 }] } },
      {
        at: 2,
        limits: [sl(1, 1000, { cost: 0 })],
        expect: { allowed: false, decisions: [{ count: 1, remaining: 0, retryAfterMs: 999 }] },
      },
    ],
  },
  {
    name: "several limits consume together or not at all",
    steps: [
      {
        at: 0,
        limits: [sl(2, 1000, { key: "a" }), sl(1, 1000, { key: "b" })],
        expect: { allowed: true, decisions: [{ count: 1 }, { count: 1 }] },
      },
      {
        at: 1,
        limits: [sl(2, 1000, { key: "a" }), sl(1, 1000, { key: "b" })],
        expect: {
          allowed: false,
          deniedIndex: 1,
          decisions: [{ allowed: true, count: 1, remaining: 1 }, { allowed: false, count: 1 }],
        },
      },
      {
        at: 2,
        limits: [sl(2, 1000, { key: "a" })],
        expect: { allowed: true, decisions: [{ count: 2 }] },
      },
    ],
  },
];

let caseSeq = 0;

/**
 * Runs `cases` as test steps against stores made by `makeStore`, each case on fresh keys and a
 * fresh manual clock.
 */
export async function runStoreCases(
  t: Deno.TestContext,
  cases: StoreCase[],
  makeStore: (clock: ManualClock) => Store | Promise<Store>,
): Promise<void> {
  for (const c of cases) {
    await t.step(c.name, async () => {
      const clock = createManualClock(1_750_000_000_000);
      const start = clock();
      const store = await makeStore(clock);
      const unique = `case${++caseSeq}-${crypto.randomUUID().slice(0, 8)}`;
      try {
        for (const [i, step] of c.steps.entries()) {
          clock.set(start + step.at);
          const requests: LimitRequest[] = step.limits.map((l) => ({
            key: `{${unique}}:${l.key ?? "k"}`,
            algorithm: l.algorithm ?? "sliding_log",
            limit: l.limit,
            windowMs: l.windowMs,
            cost: l.cost ?? 1,
          }));
          for (let n = 0; n < (step.times ?? 1); n++) {
            const outcome = await store.check(requests);
            const where = `step ${i} (at ${step.at} ms), repetition ${n}`;
            assert.deepEqual(outcome.allowed, step.expect.allowed, `${where}: allowed`);
            if (step.expect.deniedIndex !== undefined) {
              assert.deepEqual(
                outcome.deniedIndex,
                step.expect.deniedIndex,
                `${where}: deniedIndex`,
              );
            }
            step.expect.decisions?.forEach((expected, d) => {
              const actual = outcome.decisions[d]!;
              for (const [field, value] of Object.entries(expected)) {
                assert.deepEqual(
                  actual[field as keyof Decision],
                  value,
                  `${where}, limit ${d}: ${field} (${JSON.stringify(actual)})`,
                );
              }
            });
          }
        }
      } finally {
        await store.close();
      }
    });
  }
}
