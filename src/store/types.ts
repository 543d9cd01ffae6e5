import type { Algorithm, CheckOutcome, Decision, LimitRequest } from "../limiter/types.ts";

/** Health of a store as last seen. */
export type StoreStatus = "up" | "down";

/** One counter as listed by {@linkcode Store.listCounters}. */
export interface CounterInfo {
  key: string;
  algorithm: Algorithm;
  /** The limit and window the counter was last consumed under. */
  limit: number;
  windowMs: number;
  /** Its state now, as a peek (cost 0) under those parameters. */
  decision: Decision;
}

/** A page of counters and the cursor of the next page (`undefined` when done). */
export interface CounterPage {
  counters: CounterInfo[];
  nextCursor: string | undefined;
}

/**
 * Keys (entries) one page of {@linkcode Store.listCounters} may examine, as a multiple of its
 * `limit`: a page that reaches it stops early and returns a cursor, even with no counters.
 */
export const PAGE_WORK_FACTOR = 10;

/** Options of {@linkcode Store.listCounters}. */
export interface ListCountersOptions {
  /**
   * Cursor from the previous page; `undefined` or "0" starts over. A cursor the store could not
   * have issued (wrong format, out of range) is a `RangeError`, thrown before any I/O.
   */
  cursor?: string | undefined;
  /** Most counters in the page. */
  limit: number;
  /** Only keys starting with this. */
  prefix?: string | undefined;
}

/**
 * Where counter state lives: the embedded memory store or Redis. Decisions are atomic per call:
 * all limits of one `check` consume, or none.
 */
export interface Store {
  readonly kind: "memory" | "redis";
  /** Decides `requests` together, atomically. */
  check(requests: LimitRequest[]): Promise<CheckOutcome>;
  /** Decides each group independently, in one round trip where the backend allows. */
  checkMany(groups: LimitRequest[][]): Promise<CheckOutcome[]>;
  /** Deletes every counter of `key`; true if there was one. */
  reset(key: string): Promise<boolean>;
  /** Lists live counters, a page at a time, with bounded work per page. */
  listCounters(options: ListCountersOptions): Promise<CounterPage>;
  /** Approximate number of live counters. */
  countCounters(): Promise<number>;
  /** Resolves when the store answers; rejects otherwise. */
  ping(): Promise<void>;
  /** Status as last observed by a call. */
  status(): StoreStatus;
  /** Stops background work. Does not close a shared Redis client. */
  close(): Promise<void>;
}
