/**
 * Resetting a key's counters, cluster-wide: the store forgets the key's state, then every node
 * hears `counter_reset` so it drops what it caches about the key (the block cache).
 *
 * @module
 */
import { type ClusterEvents, publishChange } from "./events.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { Store } from "../store/types.ts";

/** Options for {@linkcode resetCounter}. */
export interface ResetCounterOptions {
  /** The store whose counters are reset. */
  store: Store;
  /** Where the reset is announced as `counter_reset`. */
  events: ClusterEvents;
  /** Logger for an event that could not be published. @default {silentLogger} */
  logger?: Logger;
}

/**
 * Resets every counter of `key` (every algorithm), then announces it; true if the store held
 * state for the key. Throws the store's error (and announces nothing) when the store cannot reset.
 */
export async function resetCounter(key: string, options: ResetCounterOptions): Promise<boolean> {
  const reset = await options.store.reset(key);
  await publishChange(
    options.events,
    { type: "counter_reset", key },
    options.logger ?? silentLogger,
  );
  return reset;
}
