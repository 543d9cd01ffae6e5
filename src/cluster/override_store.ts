/**
 * Per-key limits set by the operator (`PUT /api/limits/{key}`). An override decides: `/check` uses
 * it even when the request names its own limit. `/check` reads overrides synchronously from an
 * in-memory copy ({@linkcode OverrideStore.get}). This is the port with the helpers both twins
 * share; the twins are `memory_override_store.ts` (one node) and `redis_override_store.ts`, which
 * keeps the copy in step across nodes.
 *
 * @module
 */
import type { Override, OverrideLookup } from "../limiter/resolve.ts";

/** Most overrides stored by default; past it `set` of a new key throws {@linkcode OverridesFullError}. */
export const DEFAULT_MAX_OVERRIDES = 10_000;

/** One stored override with its key and when it was last set. */
export interface OverrideEntry extends Override {
  key: string;
  /** Milliseconds since the epoch. */
  updatedAt: number;
}

/** The stored form of `override` for `key`, stamped `updatedAt`; unset options stay absent. */
export function overrideEntry(key: string, override: Override, updatedAt: number): OverrideEntry {
  const entry: OverrideEntry = {
    key,
    limit: override.limit,
    windowMs: override.windowMs,
    updatedAt,
  };
  if (override.algorithm !== undefined) entry.algorithm = override.algorithm;
  if (override.burst !== undefined) entry.burst = override.burst;
  if (override.refillRate !== undefined) entry.refillRate = override.refillRate;
  return entry;
}

/** Answer of {@linkcode OverrideStore.set}. */
export interface SetOverrideResult {
  entry: OverrideEntry;
  /** True when the key had no override before. */
  created: boolean;
}

/** Thrown when storing one more override would pass the cap. Maps to 409. */
export class OverridesFullError extends Error {
  readonly max: number;
  constructor(max: number) {
    super(`Cannot store another override: the cap of ${max} overrides is reached`);
    this.name = "OverridesFullError";
    this.max = max;
  }
}

/**
 * Where overrides live. `get` answers from memory (for the hot path); `list`, `set` and `delete`
 * go to the backing store and throw `StoreUnavailableError` when it cannot answer.
 */
export interface OverrideStore extends OverrideLookup {
  readonly kind: "memory" | "redis";
  /** Loads the overrides and starts keeping the in-memory copy current. */
  start(): Promise<void>;
  /** The override of `key` as this node applies it now. */
  get(key: string): Override | undefined;
  /** The stored override of `key`, read from the backing store; O(1), whatever the count. */
  entry(key: string): Promise<OverrideEntry | undefined>;
  /** Every stored override (optionally only keys starting with `prefix`), sorted by key. */
  list(prefix?: string): Promise<OverrideEntry[]>;
  /** Sets the override of `key`, replacing any previous one. */
  set(key: string, override: Override): Promise<SetOverrideResult>;
  /** Removes the override of `key`; false if there was none. */
  delete(key: string): Promise<boolean>;
  /** Stops background work. */
  close(): Promise<void>;
}

/** Sorts entries by key in code-unit order (the same on every node). */
export function sortEntries(entries: OverrideEntry[]): OverrideEntry[] {
  return entries.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}
