/**
 * Overrides in process memory: the {@linkcode OverrideStore} of the embedded store (one node).
 *
 * @module
 */
import type { WallClock } from "../clock.ts";
import { type ClusterEvents, publishChange } from "./events.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { Override } from "../limiter/resolve.ts";
import {
  DEFAULT_MAX_OVERRIDES,
  type OverrideEntry,
  overrideEntry,
  OverridesFullError,
  type OverrideStore,
  type SetOverrideResult,
  sortEntries,
} from "./override_store.ts";

/** Options for {@linkcode MemoryOverrideStore}. */
export interface MemoryOverrideStoreOptions {
  /** Most overrides held. @default {DEFAULT_MAX_OVERRIDES} */
  maxOverrides?: number;
  /** Source of `updatedAt`. @default {Date.now} */
  clock?: WallClock;
  /** Where each change is announced as `override_changed`. @default {none: nothing is announced} */
  events?: ClusterEvents | undefined;
  /** Logger for events that could not be published. @default {silentLogger} */
  logger?: Logger;
}

/** Overrides in process memory, for the embedded store (one node). */
export class MemoryOverrideStore implements OverrideStore {
  readonly kind = "memory" as const;
  readonly #entries = new Map<string, OverrideEntry>();
  readonly #max: number;
  readonly #clock: WallClock;
  readonly #events: ClusterEvents | undefined;
  readonly #logger: Logger;

  constructor(options: MemoryOverrideStoreOptions = {}) {
    this.#max = options.maxOverrides ?? DEFAULT_MAX_OVERRIDES;
    this.#clock = options.clock ?? Date.now;
    this.#events = options.events;
    this.#logger = options.logger ?? silentLogger;
  }

  async #announce(key: string): Promise<void> {
    if (this.#events !== undefined) {
      await publishChange(this.#events, { type: "override_changed", key }, this.#logger);
    }
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  get(key: string): Override | undefined {
    return this.#entries.get(key);
  }

  entry(key: string): Promise<OverrideEntry | undefined> {
    const entry = this.#entries.get(key);
    return Promise.resolve(entry === undefined ? undefined : { ...entry });
  }

  list(prefix?: string): Promise<OverrideEntry[]> {
    const entries = [...this.#entries.values()]
      .filter((e) => prefix === undefined || e.key.startsWith(prefix))
      .map((e) => ({ ...e }));
    return Promise.resolve(sortEntries(entries));
  }

  /** Sets the override of `key`, then announces the change. */
  async set(key: string, override: Override): Promise<SetOverrideResult> {
    const created = !this.#entries.has(key);
    if (created && this.#entries.size >= this.#max) throw new OverridesFullError(this.#max);
    const entry = overrideEntry(key, override, this.#clock());
    this.#entries.set(key, entry);
    await this.#announce(key);
    return { entry: { ...entry }, created };
  }

  /** Removes the override of `key` and announces the change; false (and no event) if none. */
  async delete(key: string): Promise<boolean> {
    if (!this.#entries.delete(key)) return false;
    await this.#announce(key);
    return true;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
