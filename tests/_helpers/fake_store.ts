/**
 * A store whose backend can be switched to hang, fail or answer errors, as a dead, paused or
 * broken Redis would, for tests of the failure handling. Backed by a real {@linkcode MemoryStore}.
 *
 * @module
 */
import { StoreUnavailableError } from "../../src/errors.ts";
import type { CheckOutcome, LimitRequest } from "../../src/limiter/types.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type {
  CounterPage,
  ListCountersOptions,
  Store,
  StoreStatus,
} from "../../src/store/types.ts";

/** Stands in for node-redis's class of error replies, the cause of a `reply` failure. */
export class ErrorReply extends Error {}

/** How the fake backend behaves for calls made from now on. */
export type FakeMode = "up" | "hang" | "fail" | "reply";

/** Calls made to each method of a {@linkcode FakeStore}. */
export type FakeCalls = Record<
  "check" | "checkMany" | "reset" | "listCounters" | "countCounters" | "ping",
  number
>;

/** See the module doc. */
export class FakeStore implements Store {
  readonly kind = "redis" as const;
  /** Behaviour of calls made from now on. */
  mode: FakeMode = "up";
  /** When set, `ping` alone behaves like this instead of {@linkcode FakeStore.mode}. */
  pingMode: FakeMode | undefined;
  readonly calls: FakeCalls = {
    check: 0,
    checkMany: 0,
    reset: 0,
    listCounters: 0,
    countCounters: 0,
    ping: 0,
  };
  readonly memory = new MemoryStore({ sweepIntervalMs: 0 });
  #waiters: (() => void)[] = [];

  /** Lets every hanging call go on (they then run against the memory store, as late replies). */
  release(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Calls hanging now. */
  get hanging(): number {
    return this.#waiters.length;
  }

  async #gate<T>(mode: FakeMode, run: () => Promise<T>): Promise<T> {
    if (mode === "hang") await new Promise<void>((resolve) => this.#waiters.push(resolve));
    if (mode === "fail") {
      const cause = new Error("The client is offline");
      throw new StoreUnavailableError(`Redis did not answer: ${cause.message}`, {
        kind: "connection",
        cause,
      });
    }
    if (mode === "reply") {
      const cause = new ErrorReply("OOM command not allowed when used memory > 'maxmemory'");
      throw new StoreUnavailableError(`Redis did not answer: ${cause.message}`, {
        kind: "reply",
        cause,
      });
    }
    return await run();
  }

  check(requests: LimitRequest[]): Promise<CheckOutcome> {
    this.calls.check++;
    return this.#gate(this.mode, () => this.memory.check(requests));
  }

  checkMany(groups: LimitRequest[][]): Promise<CheckOutcome[]> {
    this.calls.checkMany++;
    return this.#gate(this.mode, () => this.memory.checkMany(groups));
  }

  reset(key: string): Promise<boolean> {
    this.calls.reset++;
    return this.#gate(this.mode, () => this.memory.reset(key));
  }

  listCounters(options: ListCountersOptions): Promise<CounterPage> {
    this.calls.listCounters++;
    return this.#gate(this.mode, () => {
      if (options.cursor === "bad") throw new RangeError('Cannot parse cursor "bad"');
      return this.memory.listCounters(options);
    });
  }

  countCounters(): Promise<number> {
    this.calls.countCounters++;
    return this.#gate(this.mode, () => this.memory.countCounters());
  }

  ping(): Promise<void> {
    this.calls.ping++;
    return this.#gate(this.pingMode ?? this.mode, () => this.memory.ping());
  }

  status(): StoreStatus {
    return this.mode === "up" ? "up" : "down";
  }

  close(): Promise<void> {
    this.release();
    return this.memory.close();
  }
}
