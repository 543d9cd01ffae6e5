/**
 * The shared table of algorithm cases. The same table runs against the embedded store (TypeScript
 * algorithms) and the Redis store (Lua scripts), each with a hand-driven clock, so the two
 * implementations cannot drift apart.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createManualClock, type ManualClock } from "../_helpers/manual_clock.ts";
import type { Algorithm, Decision, LimitRequest } from "../../src/limiter/types.ts";
import type { Store } from "../../src/store/types.ts";

/** One limit of a step; `key` is made unique per case by the runner. */
export interface CaseLimit {
  key?: string;
  algorithm?: Algorithm;
  limit: number;
  windowMs: number;
  cost?: number;
  burst?: number;
  refillRate?: number;
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
    name: "a denial waits for the request holding the unit that must expire, costs included",
    steps: [
      { at: 0, limits: [sl(10, 1000, { cost: 3 })], expect: { allowed: true } },
      { at: 100, limits: [sl(10, 1000, { cost: 4 })], expect: { allowed: true } },
      {
        at: 200,
        limits: [sl(10, 1000, { cost: 2 })],
        expect: { allowed: true, decisions: [{ count: 9, resetAfterMs: 800 }] },
      },
      {
        at: 300,
        limits: [sl(10, 1000, { cost: 5 })],
        expect: { allowed: false, decisions: [{ count: 9, retryAfterMs: 800, resetAfterMs: 700 }] },
      },
      {
        at: 300,
        limits: [sl(10, 1000, { cost: 3 })],
        expect: { allowed: false, decisions: [{ count: 9, retryAfterMs: 700 }] },
      },
      { at: 300, limits: [sl(10, 1000)], expect: { allowed: true, decisions: [{ count: 10 }] } },
      {
        at: 1000,
        limits: [sl(10, 1000, { cost: 3 })],
        expect: { allowed: true, decisions: [{ count: 10, resetAfterMs: 100 }] },
      },
      {
        at: 1000,
        limits: [sl(10, 1000, { cost: 0 })],
        expect: { allowed: false, decisions: [{ count: 10, retryAfterMs: 100 }] },
      },
      {
        at: 1000,
        limits: [sl(10, 1000, { cost: 7 })],
        expect: { allowed: false, decisions: [{ retryAfterMs: 300 }] },
      },
    ],
  },
  {
    name: "requests at the same instant stay in order",
    steps: [
      { at: 0, limits: [sl(5, 1000, { cost: 2 })], expect: { allowed: true } },
      { at: 0, limits: [sl(5, 1000)], expect: { allowed: true } },
      {
        at: 500,
        limits: [sl(5, 1000, { cost: 2 })],
        expect: { allowed: true, decisions: [{ count: 5 }] },
      },
      {
        at: 600,
        limits: [sl(5, 1000, { cost: 3 })],
        expect: { allowed: false, decisions: [{ retryAfterMs: 400 }] },
      },
      {
        at: 600,
        limits: [sl(5, 1000, { cost: 4 })],
        expect: { allowed: false, decisions: [{ retryAfterMs: 900 }] },
      },
      {
        at: 1000,
        limits: [sl(5, 1000, { cost: 3 })],
        expect: { allowed: true, decisions: [{ count: 5, resetAfterMs: 500 }] },
      },
    ],
  },
  {
    name: "a peek under another window changes nothing",
    steps: [
      { at: 0, limits: [sl(3, 3_600_000)], times: 3, expect: { allowed: true } },
      { at: 10, limits: [sl(3, 3_600_000)], expect: { allowed: false } },
      {
        at: 20,
        limits: [sl(3, 1, { cost: 0 })],
        expect: { allowed: true, decisions: [{ count: 0 }] },
      },
      {
        at: 30,
        limits: [sl(3, 3_600_000)],
        expect: { allowed: false, decisions: [{ count: 3, retryAfterMs: 3_599_970 }] },
      },
    ],
  },
  {
    // Windows of 10 s: the Redis run's keys carry a real TTL of one window, which a slow machine
    // must not reach between steps.
    name: "expired requests left over by a bounded prune are never counted",
    steps: [
      { at: 0, limits: [sl(1000, 10_000)], times: 300, expect: { allowed: true } },
      {
        at: 10_000,
        limits: [sl(1000, 10_000)],
        expect: { allowed: true, decisions: [{ count: 1, resetAfterMs: 10_000 }] },
      },
      {
        at: 15_000,
        limits: [sl(1000, 10_000, { cost: 5 })],
        expect: { allowed: true, decisions: [{ count: 6, resetAfterMs: 5_000 }] },
      },
      {
        at: 20_000,
        limits: [sl(6, 10_000, { cost: 0 })],
        expect: { allowed: true, decisions: [{ count: 5, resetAfterMs: 5_000 }] },
      },
      {
        at: 20_000,
        limits: [sl(6, 10_000, { cost: 2 })],
        expect: { allowed: false, decisions: [{ count: 5, retryAfterMs: 5_000 }] },
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

const limitOf = (algorithm: Algorithm) =>
(
  limit: number,
  windowMs: number,
  extra: Partial<CaseLimit> = {},
): CaseLimit => ({ algorithm, limit, windowMs, ...extra });
const fw = limitOf("fixed_window");
const sw = limitOf("sliding_window");
const tb = limitOf("token_bucket");
const gc = limitOf("gcra");

// The case clock starts at 1,750,000,000,000 ms, a multiple of every window below, so `at` is also
// the time into the current epoch-aligned window of fixed_window and sliding_window.

/** Cases of the fixed window. */
export const FIXED_WINDOW_CASES: StoreCase[] = [
  {
    name: "fixed_window counts per epoch-aligned window and restarts at its end",
    steps: [
      {
        at: 0,
        limits: [fw(2, 1000)],
        expect: {
          allowed: true,
          decisions: [{ count: 1, remaining: 1, retryAfterMs: 0, resetAfterMs: 1000 }],
        },
      },
      {
        at: 300,
        limits: [fw(2, 1000)],
        expect: { allowed: true, decisions: [{ count: 2, remaining: 0, resetAfterMs: 700 }] },
      },
      {
        at: 600,
        limits: [fw(2, 1000)],
        expect: {
          allowed: false,
          decisions: [{ count: 2, remaining: 0, retryAfterMs: 400, resetAfterMs: 400 }],
        },
      },
      {
        at: 999,
        limits: [fw(2, 1000)],
        expect: { allowed: false, decisions: [{ retryAfterMs: 1 }] },
      },
      {
        at: 1000,
        limits: [fw(2, 1000)],
        expect: { allowed: true, decisions: [{ count: 1, remaining: 1, resetAfterMs: 1000 }] },
      },
    ],
  },
  {
    name: "fixed_window aligns to the epoch, not to the first request",
    steps: [
      {
        at: 500,
        limits: [fw(1, 1000)],
        expect: { allowed: true, decisions: [{ count: 1, resetAfterMs: 500 }] },
      },
      {
        at: 999,
        limits: [fw(1, 1000)],
        expect: { allowed: false, decisions: [{ retryAfterMs: 1 }] },
      },
      { at: 1000, limits: [fw(1, 1000)], expect: { allowed: true } },
    ],
  },
  {
    name: "fixed_window lets a burst straddling the boundary reach twice the limit",
    steps: [
      { at: 999, limits: [fw(3, 1000)], times: 3, expect: { allowed: true } },
      {
        at: 999,
        limits: [fw(3, 1000)],
        expect: { allowed: false, decisions: [{ retryAfterMs: 1 }] },
      },
      { at: 1000, limits: [fw(3, 1000)], times: 3, expect: { allowed: true } },
      {
        at: 1000,
        limits: [fw(3, 1000)],
        expect: { allowed: false, decisions: [{ count: 3, retryAfterMs: 1000 }] },
      },
    ],
  },
  {
    name: "fixed_window cost, peek and a cost above the limit",
    steps: [
      {
        at: 0,
        limits: [fw(5, 10_000, { cost: 0 })],
        expect: {
          allowed: true,
          decisions: [{ count: 0, remaining: 5, retryAfterMs: 0, resetAfterMs: 0 }],
        },
      },
      {
        at: 1,
        limits: [fw(5, 10_000, { cost: 3 })],
        expect: { allowed: true, decisions: [{ count: 3, remaining: 2, resetAfterMs: 9999 }] },
      },
      {
        at: 2,
        limits: [fw(5, 10_000, { cost: 3 })],
        expect: { allowed: false, decisions: [{ count: 3, remaining: 2, retryAfterMs: 9998 }] },
      },
      {
        at: 3,
        limits: [fw(5, 10_000, { cost: 2 })],
        expect: { allowed: true, decisions: [{ count: 5, remaining: 0 }] },
      },
      {
        at: 4,
        limits: [fw(5, 10_000, { cost: 0 })],
        expect: { allowed: false, decisions: [{ count: 5, remaining: 0, retryAfterMs: 9996 }] },
      },
      {
        at: 5,
        limits: [fw(5, 10_000, { cost: 6 })],
        expect: { allowed: false, decisions: [{ count: 5, retryAfterMs: 10_000 }] },
      },
      {
        at: 10_000,
        limits: [fw(5, 10_000, { cost: 0 })],
        expect: { allowed: true, decisions: [{ count: 0, remaining: 5, resetAfterMs: 0 }] },
      },
    ],
  },
  {
    name: "fixed_window keeps a count through a window change until its window ends",
    steps: [
      { at: 0, limits: [fw(2, 1000)], times: 2, expect: { allowed: true } },
      {
        at: 500,
        limits: [fw(2, 10_000)],
        expect: { allowed: false, decisions: [{ count: 2, retryAfterMs: 500 }] },
      },
      {
        at: 1000,
        limits: [fw(2, 10_000)],
        expect: { allowed: true, decisions: [{ count: 1, resetAfterMs: 9000 }] },
      },
    ],
  },
];

/** Cases of the sliding window (two-counter estimate). */
export const SLIDING_WINDOW_CASES: StoreCase[] = [
  {
    name: "sliding_window weighs the previous window by its overlap",
    steps: [
      { at: 500, limits: [sw(10, 1000)], times: 9, expect: { allowed: true } },
      {
        at: 500,
        limits: [sw(10, 1000)],
        expect: { allowed: true, decisions: [{ count: 10, remaining: 0, resetAfterMs: 501 }] },
      },
      {
        // Full: room comes 1 µs into the next window, when 10 × (1 − 1 µs/1 s) rounds down to 9.
        at: 500,
        limits: [sw(10, 1000)],
        expect: { allowed: false, decisions: [{ count: 10, retryAfterMs: 501 }] },
      },
      {
        at: 1000,
        limits: [sw(10, 1000)],
        expect: { allowed: false, decisions: [{ count: 10, retryAfterMs: 1, resetAfterMs: 1 }] },
      },
      {
        // 25% into the window: floor(10 × 0.75) = 7 from the previous window.
        at: 1250,
        limits: [sw(10, 1000)],
        expect: { allowed: true, decisions: [{ count: 8, remaining: 2, resetAfterMs: 51 }] },
      },
      { at: 1250, limits: [sw(10, 1000)], times: 2, expect: { allowed: true } },
      {
        at: 1250,
        limits: [sw(10, 1000)],
        expect: { allowed: false, decisions: [{ count: 10, retryAfterMs: 51 }] },
      },
      {
        at: 1301,
        limits: [sw(10, 1000)],
        expect: { allowed: true, decisions: [{ count: 10, remaining: 0 }] },
      },
    ],
  },
  {
    name: "sliding_window forgets counts older than two windows",
    steps: [
      { at: 0, limits: [sw(3, 1000)], times: 3, expect: { allowed: true } },
      { at: 999, limits: [sw(3, 1000)], expect: { allowed: false } },
      {
        at: 2000,
        limits: [sw(3, 1000)],
        expect: { allowed: true, decisions: [{ count: 1, remaining: 2, resetAfterMs: 1001 }] },
      },
    ],
  },
  {
    name: "sliding_window retry is the time until the estimate makes room for the cost",
    steps: [
      { at: 0, limits: [sw(4, 1000, { cost: 4 })], expect: { allowed: true } },
      {
        at: 1000,
        limits: [sw(4, 1000)],
        expect: { allowed: false, decisions: [{ count: 4, retryAfterMs: 1 }] },
      },
      {
        at: 1000,
        limits: [sw(4, 1000, { cost: 2 })],
        expect: { allowed: false, decisions: [{ count: 4, retryAfterMs: 251 }] },
      },
      {
        at: 1251,
        limits: [sw(4, 1000, { cost: 2 })],
        expect: { allowed: true, decisions: [{ count: 4, remaining: 0 }] },
      },
      {
        at: 1251,
        limits: [sw(4, 1000)],
        expect: { allowed: false, decisions: [{ count: 4, retryAfterMs: 250 }] },
      },
      {
        at: 1251,
        limits: [sw(4, 1000, { cost: 5 })],
        expect: { allowed: false, decisions: [{ retryAfterMs: 1000 }] },
      },
    ],
  },
  {
    name: "sliding_window cost 0 peeks without consuming",
    steps: [
      {
        at: 0,
        limits: [sw(2, 1000, { cost: 0 })],
        expect: { allowed: true, decisions: [{ count: 0, remaining: 2, resetAfterMs: 0 }] },
      },
      { at: 0, limits: [sw(2, 1000, { cost: 2 })], expect: { allowed: true } },
      {
        at: 1,
        limits: [sw(2, 1000, { cost: 0 })],
        expect: {
          allowed: false,
          decisions: [{ count: 2, remaining: 0, retryAfterMs: 1000 }],
        },
      },
      {
        at: 1,
        limits: [sw(2, 1000, { cost: 0 })],
        expect: { allowed: false, decisions: [{ count: 2 }] },
      },
    ],
  },
  {
    name: "sliding_window carries its estimate through a window change",
    steps: [
      { at: 0, limits: [sw(3, 1000)], times: 3, expect: { allowed: true } },
      {
        at: 500,
        limits: [sw(3, 10_000)],
        expect: { allowed: false, decisions: [{ count: 3, retryAfterMs: 9501 }] },
      },
    ],
  },
];

/** Cases of the token bucket. */
export const TOKEN_BUCKET_CASES: StoreCase[] = [
  {
    name: "token_bucket allows a burst of its capacity, then refills continuously",
    steps: [
      {
        at: 0,
        limits: [tb(4, 1000)],
        expect: {
          allowed: true,
          decisions: [{ count: 1, remaining: 3, retryAfterMs: 0, resetAfterMs: 250 }],
        },
      },
      { at: 0, limits: [tb(4, 1000)], times: 2, expect: { allowed: true } },
      {
        at: 0,
        limits: [tb(4, 1000)],
        expect: { allowed: true, decisions: [{ count: 4, remaining: 0, resetAfterMs: 250 }] },
      },
      {
        at: 0,
        limits: [tb(4, 1000)],
        expect: { allowed: false, decisions: [{ count: 4, remaining: 0, retryAfterMs: 250 }] },
      },
      {
        at: 100,
        limits: [tb(4, 1000)],
        expect: { allowed: false, decisions: [{ count: 4, retryAfterMs: 150, resetAfterMs: 150 }] },
      },
      {
        at: 250,
        limits: [tb(4, 1000)],
        expect: { allowed: true, decisions: [{ count: 4, remaining: 0, resetAfterMs: 250 }] },
      },
      {
        at: 1250,
        limits: [tb(4, 1000)],
        expect: { allowed: true, decisions: [{ count: 1, remaining: 3 }] },
      },
    ],
  },
  {
    name: "token_bucket refills refill_rate tokens per window",
    steps: [
      {
        at: 0,
        limits: [tb(10, 1000, { refillRate: 2, cost: 10 })],
        expect: { allowed: true, decisions: [{ count: 10, remaining: 0, resetAfterMs: 500 }] },
      },
      {
        at: 400,
        limits: [tb(10, 1000, { refillRate: 2 })],
        expect: { allowed: false, decisions: [{ retryAfterMs: 100 }] },
      },
      { at: 500, limits: [tb(10, 1000, { refillRate: 2 })], expect: { allowed: true } },
      {
        at: 3000,
        limits: [tb(10, 1000, { refillRate: 2, cost: 5 })],
        expect: { allowed: true, decisions: [{ count: 10, remaining: 0 }] },
      },
    ],
  },
  {
    name: "token_bucket cost, peek and a cost above the capacity",
    steps: [
      {
        at: 0,
        limits: [tb(3, 3000, { cost: 0 })],
        expect: {
          allowed: true,
          decisions: [{ count: 0, remaining: 3, retryAfterMs: 0, resetAfterMs: 0 }],
        },
      },
      {
        at: 0,
        limits: [tb(3, 3000, { cost: 4 })],
        expect: { allowed: false, decisions: [{ count: 0, remaining: 3, retryAfterMs: 3000 }] },
      },
      {
        at: 0,
        limits: [tb(3, 3000, { cost: 2 })],
        expect: { allowed: true, decisions: [{ count: 2, remaining: 1, resetAfterMs: 1000 }] },
      },
      {
        at: 0,
        limits: [tb(3, 3000, { cost: 2 })],
        expect: { allowed: false, decisions: [{ count: 2, remaining: 1, retryAfterMs: 1000 }] },
      },
      {
        at: 0,
        limits: [tb(3, 3000, { cost: 0 })],
        expect: { allowed: true, decisions: [{ count: 2, remaining: 1 }] },
      },
    ],
  },
  {
    name: "token_bucket rounds a fractional refill time up",
    steps: [
      {
        at: 0,
        limits: [tb(3, 1000, { cost: 3 })],
        expect: { allowed: true, decisions: [{ resetAfterMs: 334 }] },
      },
      {
        at: 333,
        limits: [tb(3, 1000)],
        expect: { allowed: false, decisions: [{ retryAfterMs: 1 }] },
      },
      {
        at: 334,
        limits: [tb(3, 1000)],
        expect: { allowed: true, decisions: [{ count: 3, remaining: 0, resetAfterMs: 333 }] },
      },
    ],
  },
  {
    name: "token_bucket keeps its level through a window change",
    steps: [
      { at: 0, limits: [tb(2, 1000, { cost: 2 })], expect: { allowed: true } },
      {
        at: 0,
        limits: [tb(2, 2000)],
        expect: { allowed: false, decisions: [{ count: 2, retryAfterMs: 1000 }] },
      },
    ],
  },
];

/** Cases of GCRA. */
export const GCRA_CASES: StoreCase[] = [
  {
    name: "gcra allows a burst of `limit` by default, then spaces cells by window / limit",
    steps: [
      {
        at: 0,
        limits: [gc(4, 1000)],
        expect: {
          allowed: true,
          decisions: [{ count: 1, remaining: 3, retryAfterMs: 0, resetAfterMs: 250 }],
        },
      },
      { at: 0, limits: [gc(4, 1000)], times: 2, expect: { allowed: true } },
      {
        at: 0,
        limits: [gc(4, 1000)],
        expect: { allowed: true, decisions: [{ count: 4, remaining: 0, resetAfterMs: 250 }] },
      },
      {
        at: 0,
        limits: [gc(4, 1000)],
        expect: { allowed: false, decisions: [{ count: 4, remaining: 0, retryAfterMs: 250 }] },
      },
      {
        at: 249,
        limits: [gc(4, 1000)],
        expect: { allowed: false, decisions: [{ count: 4, retryAfterMs: 1 }] },
      },
      {
        at: 250,
        limits: [gc(4, 1000)],
        expect: { allowed: true, decisions: [{ count: 4, remaining: 0 }] },
      },
      {
        at: 2000,
        limits: [gc(4, 1000)],
        expect: { allowed: true, decisions: [{ count: 1, remaining: 3 }] },
      },
    ],
  },
  {
    name: "gcra with a small burst smooths traffic",
    steps: [
      { at: 0, limits: [gc(10, 1000, { burst: 2 })], times: 2, expect: { allowed: true } },
      {
        at: 0,
        limits: [gc(10, 1000, { burst: 2 })],
        expect: { allowed: false, decisions: [{ count: 2, remaining: 0, retryAfterMs: 100 }] },
      },
      {
        at: 100,
        limits: [gc(10, 1000, { burst: 2 })],
        expect: { allowed: true, decisions: [{ count: 2, remaining: 0, resetAfterMs: 100 }] },
      },
      {
        at: 150,
        limits: [gc(10, 1000, { burst: 2 })],
        expect: { allowed: false, decisions: [{ retryAfterMs: 50 }] },
      },
    ],
  },
  {
    name: "gcra cost, peek and a cost above the burst",
    steps: [
      {
        at: 0,
        limits: [gc(6, 6000, { burst: 3, cost: 0 })],
        expect: {
          allowed: true,
          decisions: [{ count: 0, remaining: 3, retryAfterMs: 0, resetAfterMs: 0 }],
        },
      },
      {
        at: 0,
        limits: [gc(6, 6000, { burst: 3, cost: 4 })],
        expect: { allowed: false, decisions: [{ count: 0, remaining: 3, retryAfterMs: 6000 }] },
      },
      {
        at: 0,
        limits: [gc(6, 6000, { burst: 3, cost: 2 })],
        expect: { allowed: true, decisions: [{ count: 2, remaining: 1, resetAfterMs: 1000 }] },
      },
      {
        at: 0,
        limits: [gc(6, 6000, { burst: 3, cost: 2 })],
        expect: { allowed: false, decisions: [{ count: 2, remaining: 1, retryAfterMs: 1000 }] },
      },
      {
        at: 0,
        limits: [gc(6, 6000, { burst: 3, cost: 0 })],
        expect: { allowed: true, decisions: [{ count: 2, remaining: 1 }] },
      },
      {
        at: 0,
        limits: [gc(6, 6000, { burst: 3 })],
        expect: { allowed: true, decisions: [{ count: 3, remaining: 0 }] },
      },
    ],
  },
  {
    name: "gcra rounds the emission interval up to whole microseconds",
    steps: [
      { at: 0, limits: [gc(3, 1000)], times: 3, expect: { allowed: true } },
      {
        at: 0,
        limits: [gc(3, 1000)],
        expect: { allowed: false, decisions: [{ retryAfterMs: 334 }] },
      },
      { at: 334, limits: [gc(3, 1000)], expect: { allowed: true } },
      {
        at: 334,
        limits: [gc(3, 1000)],
        expect: { allowed: false, decisions: [{ retryAfterMs: 333 }] },
      },
      {
        // 3,000 cells of T = 333,334 µs (not 333,333.3) end 2 ms after 1,000 s, not before.
        at: 10_000,
        limits: [gc(3, 1000, { key: "big", burst: 3000, cost: 3000 })],
        expect: { allowed: true, decisions: [{ count: 3000, remaining: 0 }] },
      },
      {
        at: 1_010_000,
        limits: [gc(3, 1000, { key: "big", burst: 3000, cost: 0 })],
        expect: { allowed: true, decisions: [{ count: 1, remaining: 2999, resetAfterMs: 2 }] },
      },
    ],
  },
];

/** Multi-limit cases mixing algorithms. */
export const MIXED_CASES: StoreCase[] = [
  {
    name: "a denied multi-limit check consumes none of its limits, whatever their algorithm",
    steps: [
      {
        at: 0,
        limits: [
          sw(5, 1000, { key: "a" }),
          fw(5, 1000, { key: "b" }),
          tb(5, 1000, { key: "c" }),
          gc(5, 1000, { key: "d" }),
          sl(1, 1000, { key: "e" }),
        ],
        expect: {
          allowed: true,
          decisions: [{ count: 1 }, { count: 1 }, { count: 1 }, { count: 1 }, { count: 1 }],
        },
      },
      {
        at: 1,
        times: 3,
        limits: [
          sw(5, 1000, { key: "a" }),
          fw(5, 1000, { key: "b" }),
          tb(5, 1000, { key: "c" }),
          gc(5, 1000, { key: "d" }),
          sl(1, 1000, { key: "e" }),
        ],
        expect: {
          allowed: false,
          deniedIndex: 4,
          decisions: [
            { allowed: true, count: 1, remaining: 4, retryAfterMs: 0 },
            { allowed: true, count: 1, remaining: 4, retryAfterMs: 0 },
            { allowed: true, count: 1, remaining: 4, retryAfterMs: 0 },
            { allowed: true, count: 1, remaining: 4, retryAfterMs: 0 },
            { allowed: false, count: 1, remaining: 0, retryAfterMs: 999 },
          ],
        },
      },
      {
        at: 3,
        limits: [
          sw(5, 1000, { key: "a" }),
          fw(5, 1000, { key: "b" }),
          tb(5, 1000, { key: "c" }),
          gc(5, 1000, { key: "d" }),
        ],
        expect: {
          allowed: true,
          decisions: [{ count: 2 }, { count: 2 }, { count: 2 }, { count: 2 }],
        },
      },
    ],
  },
  {
    name: "every denying limit reports its own retry time",
    steps: [
      {
        at: 0,
        limits: [fw(1, 1000, { key: "a" }), gc(1, 2000, { key: "b" })],
        expect: { allowed: true },
      },
      {
        at: 500,
        limits: [fw(1, 1000, { key: "a" }), gc(1, 2000, { key: "b" })],
        expect: {
          allowed: false,
          deniedIndex: 0,
          decisions: [
            { allowed: false, retryAfterMs: 500 },
            { allowed: false, retryAfterMs: 1500 },
          ],
        },
      },
    ],
  },
  {
    name: "one key under two algorithms is two counters",
    steps: [
      {
        at: 0,
        limits: [sl(1, 1000, { key: "k" }), fw(1, 1000, { key: "k" })],
        expect: { allowed: true, decisions: [{ count: 1 }, { count: 1 }] },
      },
      {
        at: 1,
        limits: [sl(1, 1000, { key: "k" })],
        expect: { allowed: false },
      },
      {
        at: 1,
        limits: [tb(1, 1000, { key: "k" })],
        expect: { allowed: true },
      },
    ],
  },
];

/** Every case table, for running them all against one store. */
export const ALL_CASES: StoreCase[] = [
  ...SLIDING_LOG_CASES,
  ...FIXED_WINDOW_CASES,
  ...SLIDING_WINDOW_CASES,
  ...TOKEN_BUCKET_CASES,
  ...GCRA_CASES,
  ...MIXED_CASES,
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
          const requests: LimitRequest[] = step.limits.map((l) => {
            const request: LimitRequest = {
              key: `{${unique}}:${l.key ?? "k"}`,
              algorithm: l.algorithm ?? "sliding_log",
              limit: l.limit,
              windowMs: l.windowMs,
              cost: l.cost ?? 1,
            };
            if (l.burst !== undefined) request.burst = l.burst;
            if (l.refillRate !== undefined) request.refillRate = l.refillRate;
            return request;
          });
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
