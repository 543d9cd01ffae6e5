/**
 * Overrides in process memory: the {@linkcode OverrideStore} of the embedded store (one node).
 *
 * @module
 */
import type { Clock } from "../clock.ts";
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
  clock?: Clock;
}

/** Overrides in process memory, for the embedded store (one node). */
export class MemoryOverrideStore implements OverrideStore {
  readonly kind = "memory" as const;
  readonly #entries = new Map<string, OverrideEntry>();
  readonly #max: number;
  readonly #clock: Clock;

  constructor(options: MemoryOverrideStoreOptions = {}) {
    this.#max = options.maxOverrides ?? DEFAULT_MAX_OVERRIDES;
    this.#clock = options.clock ?? Date.now;
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

  set(key: string, override: Override): Promise<SetOverrideResult> {
    const created = !this.#entries.has(key);
    if (created && this.#entries.size >= this.#max) {
      return Promise.reject(new OverridesFullError(this.#max));
    }
    const entry = overrideEntry(key, override, this.#clock());
    this.#entries.set(key, entry);
    return Promise.resolve({ entry: { ...entry }, created });
  }

  delete(key: string): Promise<boolean> {
    return Promise.resolve(this.#entries.delete(key));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
