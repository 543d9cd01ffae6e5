/**
 * The active-counter count of the embedded store: the size of a map, cheap, so every tick just
 * asks the store.
 *
 * @module
 */
import { ActiveCounters, type ActiveCountersOptions } from "./active_counters.ts";
import type { Store } from "../store/types.ts";

/** Options for {@linkcode MemoryActiveCounters}. */
export interface MemoryActiveCountersOptions extends ActiveCountersOptions {
  /** The store whose counters are counted. */
  store: Store;
  /** Milliseconds between ticks. @default {5000} */
  intervalMs?: number;
}

/** Asks `store.countCounters()` every tick. */
export class MemoryActiveCounters extends ActiveCounters {
  readonly #store: Store;

  constructor(options: MemoryActiveCountersOptions) {
    super(options, 5000);
    this.#store = options.store;
  }

  protected count(): Promise<number> {
    return this.#store.countCounters();
  }
}
