/**
 * Overrides shared through Redis. Stored in the hash `<prefix>:overrides` (field = client key,
 * value = JSON `{"limit", "window_ms", "algorithm"?, "updated_at"}`); every change also bumps
 * `<prefix>:overrides:version`, atomically with the change.
 *
 * Each node keeps all overrides in memory so `/check` looks them up without a round trip. The copy
 * is reloaded whenever the version differs from the one it was loaded at: checked at once when an
 * `override_changed` event arrives over pub/sub, and polled every 250 ms, so a lost message still
 * converges well within a second. The store announces its own changes: `set` and `delete` publish
 * `override_changed` once Redis has the change.
 *
 * @module
 */
import type { WallClock } from "../clock.ts";
import { StoreUnavailableError } from "../errors.ts";
import { type ClusterEvents, publishChange } from "./events.ts";
import { type Algorithm, ALGORITHMS } from "../limiter/types.ts";
import type { Override } from "../limiter/resolve.ts";
import { type Logger, silentLogger } from "../log.ts";
import {
  DEFAULT_MAX_OVERRIDES,
  type OverrideEntry,
  overrideEntry,
  OverridesFullError,
  type OverrideStore,
  type SetOverrideResult,
  sortEntries,
} from "./override_store.ts";
import { REDIS_CALL_TIMEOUT_MS, redisCall } from "../redis/call.ts";
import { RedisScript } from "../redis/script.ts";
import type { RedisClient } from "../redis/connection.ts";
import { DEFAULT_KEY_PREFIX, overridesKey, overridesVersionKey } from "../store/keys.ts";

/**
 * Bumps the version key. A missing version key (Redis restarted empty or was flushed) starts again
 * from the current time in microseconds, not from 1, so a node that loaded at version N before the
 * restart can never mistake a different set of overrides for the one it holds.
 */
const BUMP = `
local function bump(key)
  if redis.call('EXISTS', key) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', key, t[1] .. string.format('%06d', tonumber(t[2])))
  end
  redis.call('INCR', key)
  -- Read back as a string: a Lua number would print large versions in exponent notation.
  return redis.call('GET', key)
end
`;

/**
 * Sets one override.
 *
 * KEYS[1]: overrides hash. KEYS[2]: version key.
 * ARGV[1]: client key. ARGV[2]: JSON value. ARGV[3]: most overrides allowed.
 * Returns: {-1, ""} when the key is new and the hash is full; else {created (0|1), new version}.
 */
export const SET_OVERRIDE_SCRIPT = `#!lua${BUMP}
local exists = redis.call('HEXISTS', KEYS[1], ARGV[1])
if exists == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return { -1, '' } end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return { 1 - exists, bump(KEYS[2]) }
`;

/**
 * Deletes one override.
 *
 * KEYS[1]: overrides hash. KEYS[2]: version key. ARGV[1]: client key.
 * Returns: {removed (0|1), version after the call ("" if none)}.
 */
export const DELETE_OVERRIDE_SCRIPT = `#!lua flags=allow-oom${BUMP}
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return { 0, redis.call('GET', KEYS[2]) or '' }
end
return { 1, bump(KEYS[2]) }
`;

/**
 * Reads every override together with the version it belongs to.
 *
 * KEYS[1]: overrides hash. KEYS[2]: version key.
 * Returns: {version ("" if none), {field, value, field, value, ...}}.
 */
export const LOAD_OVERRIDES_SCRIPT = `#!lua flags=no-writes
return { redis.call('GET', KEYS[2]) or '', redis.call('HGETALL', KEYS[1]) }
`;

const ALGORITHM_SET = new Set<string>(ALGORITHMS);

/** The JSON stored for one override. */
export function encodeOverride(entry: OverrideEntry): string {
  const value: Record<string, unknown> = { limit: entry.limit, window_ms: entry.windowMs };
  if (entry.algorithm !== undefined) value.algorithm = entry.algorithm;
  if (entry.burst !== undefined) value.burst = entry.burst;
  if (entry.refillRate !== undefined) value.refill_rate = entry.refillRate;
  value.updated_at = entry.updatedAt;
  return JSON.stringify(value);
}

/**
 * Parses a stored override; `undefined` when unreadable. An algorithm this node does not know (a
 * newer node wrote it during a rolling upgrade) is dropped, keeping the limit and window.
 */
export function decodeOverride(key: string, raw: string): OverrideEntry | undefined {
  try {
    const v = JSON.parse(raw);
    if (
      !Number.isSafeInteger(v?.limit) || v.limit < 1 || !Number.isSafeInteger(v.window_ms) ||
      v.window_ms < 1
    ) {
      return undefined;
    }
    const entry: OverrideEntry = {
      key,
      limit: v.limit,
      windowMs: v.window_ms,
      updatedAt: typeof v.updated_at === "number" ? v.updated_at : 0,
    };
    if (typeof v.algorithm === "string" && ALGORITHM_SET.has(v.algorithm)) {
      entry.algorithm = v.algorithm as Algorithm;
      // Parameters belong to their algorithm: dropped with an algorithm this node does not know.
      if (Number.isSafeInteger(v.burst) && v.burst >= 1) entry.burst = v.burst;
      if (Number.isSafeInteger(v.refill_rate) && v.refill_rate >= 1) {
        entry.refillRate = v.refill_rate;
      }
    }
    return entry;
  } catch {
    return undefined;
  }
}

/** Options for {@linkcode RedisOverrideStore}. */
export interface RedisOverrideStoreOptions {
  /** A connected client; never closed here. */
  client: RedisClient;
  /** Prefix of every key. @default {DEFAULT_KEY_PREFIX} */
  prefix?: string;
  /**
   * Where `override_changed` events are announced after each change and heard from other nodes;
   * without it nothing is announced and only polling refreshes. @default {none}
   */
  events?: ClusterEvents;
  /** Milliseconds between version polls; 0 disables polling. @default {250} */
  pollIntervalMs?: number;
  /** Deadline of each Redis call in milliseconds. @default {2000} */
  timeoutMs?: number;
  /** Most overrides stored. @default {DEFAULT_MAX_OVERRIDES} */
  maxOverrides?: number;
  /** Source of `updatedAt`. @default {Date.now} */
  clock?: WallClock;
  /** Logger for refresh failures, recoveries and events that could not be published. @default {silentLogger} */
  logger?: Logger;
}

/** Overrides in Redis, cached in memory on every node and kept current. */
export class RedisOverrideStore implements OverrideStore {
  readonly kind = "redis" as const;
  readonly #client: RedisClient;
  readonly #hashKey: string;
  readonly #versionKey: string;
  readonly #events: ClusterEvents | undefined;
  readonly #pollMs: number;
  readonly #timeoutMs: number;
  readonly #max: number;
  readonly #clock: WallClock;
  readonly #logger: Logger;
  readonly #set = new RedisScript(SET_OVERRIDE_SCRIPT);
  readonly #delete = new RedisScript(DELETE_OVERRIDE_SCRIPT);
  readonly #load = new RedisScript(LOAD_OVERRIDES_SCRIPT);
  #cache = new Map<string, Override>();
  /** Version the cache was loaded at; `undefined` before the first load. */
  #version: string | undefined;
  /** Set when the cache may miss changes its version does not show: the next refresh reloads. */
  #stale = false;
  /** Tail of the chain that runs cache updates one at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  #refreshQueued = false;
  #failing = false;
  #running = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(options: RedisOverrideStoreOptions) {
    const prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
    this.#client = options.client;
    this.#hashKey = overridesKey(prefix);
    this.#versionKey = overridesVersionKey(prefix);
    this.#events = options.events;
    this.#pollMs = options.pollIntervalMs ?? 250;
    this.#timeoutMs = options.timeoutMs ?? REDIS_CALL_TIMEOUT_MS;
    this.#max = options.maxOverrides ?? DEFAULT_MAX_OVERRIDES;
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Version of the loaded copy, for tests and diagnostics. */
  get version(): string | undefined {
    return this.#version;
  }

  /**
   * Loads every override, then keeps the copy current. While Redis cannot answer (the node
   * started without it), starts with no overrides, logs `overrides_refresh_failed` once, and loads
   * them at the first poll or event after Redis answers. Other errors are thrown.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    try {
      await this.#serial(() => this.#reload());
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.#logger.warn("overrides_refresh_failed", {
        error: error.message,
        note: "no overrides loaded yet; loading them as soon as Redis answers",
      });
      this.#failing = true;
    }
    this.#running = true;
    this.#unsubscribe = this.#events?.subscribe((event) => {
      if (event.type === "override_changed") this.refresh();
    });
    if (this.#pollMs > 0) this.#schedulePoll();
  }

  #schedulePoll(): void {
    this.#timer = setTimeout(async () => {
      await this.refresh();
      if (this.#running) this.#schedulePoll();
    }, this.#pollMs);
  }

  /** Runs `task` after every earlier cache update, so updates never interleave. */
  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Reloads the copy if Redis holds another version than the one loaded. Never throws: a failure
   * is logged once and the last loaded copy stays in force until Redis answers again.
   */
  refresh(): Promise<void> {
    if (this.#refreshQueued) return this.#queue.then(() => {});
    this.#refreshQueued = true;
    return this.#serial(async () => {
      this.#refreshQueued = false;
      try {
        const version = await redisCall<string | null>(
          this.#client,
          ["GET", this.#versionKey],
          this.#timeoutMs,
        );
        if (this.#stale || (version ?? "") !== this.#version) await this.#reload();
        if (this.#failing) this.#logger.info("overrides_refresh_recovered");
        this.#failing = false;
      } catch (error) {
        if (!this.#failing) {
          this.#logger.warn("overrides_refresh_failed", {
            error: error instanceof Error ? error.message : String(error),
            note: "the last loaded overrides stay in force; retrying",
          });
        }
        this.#failing = true;
      }
    });
  }

  async #fetchAll(): Promise<{ version: string; entries: OverrideEntry[] }> {
    const [version, flat] = await this.#load.run<[string, string[]]>(
      this.#client,
      [this.#hashKey, this.#versionKey],
      [],
      this.#timeoutMs,
    );
    const entries: OverrideEntry[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const entry = decodeOverride(flat[i]!, flat[i + 1]!);
      if (entry !== undefined) entries.push(entry);
    }
    return { version, entries };
  }

  async #reload(): Promise<void> {
    const { version, entries } = await this.#fetchAll();
    const cache = new Map<string, Override>();
    for (const e of entries) cache.set(e.key, toOverride(e));
    this.#cache = cache;
    this.#version = version;
    this.#stale = false;
  }

  /**
   * Applies a change this node made. The cached version moves only when the change is the very
   * next one; otherwise other changes happened in between and the next refresh reloads.
   */
  #applyOwn(key: string, value: Override | undefined, version: string): void {
    if (value === undefined) this.#cache.delete(key);
    else this.#cache.set(key, value);
    if (isNextVersion(this.#version, version)) this.#version = version;
    else this.#stale = true;
  }

  get(key: string): Override | undefined {
    return this.#cache.get(key);
  }

  async entry(key: string): Promise<OverrideEntry | undefined> {
    // One HGET: reading the whole hash to find one key cost ~O(overrides) per request.
    const raw = await redisCall<string | null>(
      this.#client,
      ["HGET", this.#hashKey, key],
      this.#timeoutMs,
    );
    return raw === null ? undefined : decodeOverride(key, raw);
  }

  async list(prefix?: string): Promise<OverrideEntry[]> {
    const { entries } = await this.#fetchAll();
    return sortEntries(
      prefix === undefined ? entries : entries.filter((e) => e.key.startsWith(prefix)),
    );
  }

  /** Announces a change this node made, once the change is in Redis and in the copy. */
  async #announce(key: string): Promise<void> {
    if (this.#events !== undefined) {
      await publishChange(this.#events, { type: "override_changed", key }, this.#logger);
    }
  }

  /** Sets the override of `key`, then announces the change. */
  async set(key: string, override: Override): Promise<SetOverrideResult> {
    const entry = overrideEntry(key, override, this.#clock());
    const result = await this.#serial(async () => {
      const [created, version] = await this.#set.run<[number, string]>(
        this.#client,
        [this.#hashKey, this.#versionKey],
        [key, encodeOverride(entry), String(this.#max)],
        this.#timeoutMs,
      );
      if (created === -1) throw new OverridesFullError(this.#max);
      this.#applyOwn(key, toOverride(entry), version);
      return { entry, created: created === 1 };
    });
    await this.#announce(key);
    return result;
  }

  /** Removes the override of `key` and announces the change; false (and no event) if none. */
  async delete(key: string): Promise<boolean> {
    const removed = await this.#serial(async () => {
      const [removed, version] = await this.#delete.run<[number, string]>(
        this.#client,
        [this.#hashKey, this.#versionKey],
        [key],
        this.#timeoutMs,
      );
      if (removed === 1) this.#applyOwn(key, undefined, version);
      return removed === 1;
    });
    if (removed) await this.#announce(key);
    return removed;
  }

  async close(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    await this.#queue;
  }
}

function isNextVersion(known: string | undefined, next: string): boolean {
  if (known === undefined || !/^\d+$/.test(known) || !/^\d+$/.test(next)) return false;
  return BigInt(next) === BigInt(known) + 1n;
}

function toOverride(entry: OverrideEntry): Override {
  const override: Override = { limit: entry.limit, windowMs: entry.windowMs };
  if (entry.algorithm !== undefined) override.algorithm = entry.algorithm;
  if (entry.burst !== undefined) override.burst = entry.burst;
  if (entry.refillRate !== undefined) override.refillRate = entry.refillRate;
  return override;
}
