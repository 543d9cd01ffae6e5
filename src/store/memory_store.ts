import type { WallClock } from "../clock.ts";
import { ALGORITHM_IMPLS } from "../limiter/algorithms.ts";
import {
  type Algorithm,
  type CheckOutcome,
  combineDecisions,
  type Decision,
  type LimitRequest,
} from "../limiter/types.ts";
import { ApiError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { CreationOrder, type OrderedItem } from "./creation_order.ts";
import { ExpiryIndex, type ExpiryItem, NOT_FILED } from "./expiry_index.ts";
import { counterKey } from "./keys.ts";
import {
  type CounterInfo,
  type CounterPage,
  type ListCountersOptions,
  PAGE_WORK_FACTOR,
  type Store,
  type StoreStatus,
} from "./types.ts";

/** What a check answers when the embedded store cannot take it (see {@linkcode MemoryStore}). */
export type MemoryStoreFullAnswer = "open" | "closed";

/** Which cap refused a check: the number of keys, or the stored units. */
export type MemoryStoreCap = "keys" | "units";

/** The metrics {@linkcode MemoryStore} keeps. */
export type MemoryStoreMetrics = Pick<Metrics, "memoryRefusals" | "degradedDecisions">;

/** Error code of the 503 a check gets when the store is full and `whenFull` is `closed`. */
export const STORE_FULL_CODE = "store_full";

/** Width of an expiry bucket, in ms: an expired key is dropped at most this late by the sweeps. */
export const EXPIRY_BUCKET_MS = 100;

/** Index steps (keys dropped or re-filed) every write takes out of the expiry backlog. */
export const WRITE_DRAIN_STEPS = 4;

/** Index steps a check may take to make room when it finds the store full. */
export const FULL_DRAIN_STEPS = 256;

/** Shortest time between two `memory_store_full` log lines, in ms. */
export const FULL_LOG_INTERVAL_MS = 60_000;

/** Most units one commit adds to a key's weight: a sliding log stores one entry per request. */
const COMMIT_GROWTH = 1;

/** Options for {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /** Source of time. @default {Date.now} */
  clock?: WallClock;
  /** Most keys held; a check needing one more is refused (see `whenFull`). @default {1000000} */
  maxKeys?: number;
  /**
   * Most stored units (sliding-log entries) over all keys; a check that could take the total past
   * it (one unit per limit it commits, plus one per new key) is refused. @default {20000000}
   */
  maxUnits?: number;
  /**
   * What a refused check answers: `open`, allowed without counting what did not fit and marked
   * `degraded: "open"`; `closed`, an {@linkcode ApiError} 503 `store_full`. @default {"open"}
   */
  whenFull?: MemoryStoreFullAnswer;
  /** Milliseconds between background sweeps of expired keys; 0 disables them. @default {100} */
  sweepIntervalMs?: number;
  /** Most expiry-index steps (keys dropped or re-filed) of one background sweep. @default {10000} */
  sweepBudget?: number;
  /** Where refusals are counted. @default {none} */
  metrics?: MemoryStoreMetrics;
  /** Where a full store is reported, at most once a minute. @default {none} */
  logger?: Logger;
}

interface Entry extends ExpiryItem, OrderedItem {
  readonly id: string;
  readonly algorithm: Algorithm;
  readonly key: string;
  state: unknown;
  weight: number;
}

const ALGORITHM_KEY_PREFIX = "m";

function positiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Cannot use ${name} ${value}: expected an integer >= 1`);
  }
}

/**
 * The embedded store: the same algorithms as the Redis scripts, over in-process memory, for a
 * single node with no Redis.
 *
 * Memory is capped by keys and by stored units, and a live counter is never dropped to make room:
 * a check that needs a new key at the key cap, or more units than are left, is refused as a whole
 * and answered per `whenFull`, while checks of keys already held go on being counted exactly.
 *
 * Expiry costs work proportional to what expires: keys are filed by expiry time in an
 * {@linkcode ExpiryIndex}, which every write drains by a few steps (so expiry keeps up with any
 * write rate) and a background sweep drains with a budget per tick; a key found expired on access
 * is dropped at once. No operation scans the whole store: keys are also held in a
 * {@linkcode CreationOrder}, so a page of {@linkcode listCounters} seeks to its cursor by binary
 * search and examines at most `limit × PAGE_WORK_FACTOR` keys.
 */
export class MemoryStore implements Store {
  readonly kind = "memory" as const;
  readonly #clock: WallClock;
  readonly #maxKeys: number;
  readonly #maxUnits: number;
  readonly #whenFull: MemoryStoreFullAnswer;
  readonly #sweepBudget: number;
  readonly #metrics: MemoryStoreMetrics | undefined;
  readonly #logger: Logger | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #expiry: ExpiryIndex<Entry>;
  readonly #order = new CreationOrder<Entry>();
  #seq = 0;
  #units = 0;
  #refusals = 0;
  #expirySteps = 0;
  #listSteps = 0;
  #refusedSinceLog = 0;
  #lastFullLog = -Infinity;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 1_000_000;
    this.#maxUnits = options.maxUnits ?? 20_000_000;
    this.#whenFull = options.whenFull ?? "open";
    this.#sweepBudget = options.sweepBudget ?? 10_000;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    positiveInteger("maxKeys", this.#maxKeys);
    positiveInteger("maxUnits", this.#maxUnits);
    this.#expiry = new ExpiryIndex(EXPIRY_BUCKET_MS, this.#clock());
    const interval = options.sweepIntervalMs ?? 100;
    if (interval > 0) {
      this.#sweeper = setInterval(() => this.sweep(this.#sweepBudget), interval);
      Deno.unrefTimer(this.#sweeper);
    }
  }

  /** Checks refused because a cap was reached, since start. */
  get refusals(): number {
    return this.#refusals;
  }

  /** Expiry-index steps taken since start (keys dropped or re-filed, empty buckets passed). */
  get expirySteps(): number {
    return this.#expirySteps;
  }

  /** Keys examined by {@linkcode listCounters} since start (removed and expired ones included). */
  get listSteps(): number {
    return this.#listSteps;
  }

  /** Slots of the creation order pages walk: keys held plus removed ones not compacted away. */
  get orderSlots(): number {
    return this.#order.slots;
  }

  /** Number of keys held, expired or not. */
  get size(): number {
    return this.#entries.size;
  }

  /** Stored units over all keys, as last weighed. */
  get units(): number {
    return this.#units;
  }

  check(requests: LimitRequest[]): Promise<CheckOutcome> {
    try {
      return Promise.resolve(this.#check(requests, this.#clock()));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  checkMany(groups: LimitRequest[][]): Promise<CheckOutcome[]> {
    const now = this.#clock();
    try {
      return Promise.resolve(groups.map((group) => this.#check(group, now)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #live(id: string, now: number): Entry | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.#delete(entry);
      return undefined;
    }
    return entry;
  }

  #check(requests: LimitRequest[], now: number): CheckOutcome {
    const ids = requests.map((r) => counterKey(ALGORITHM_KEY_PREFIX, r.algorithm, r.key));
    const decisions: Decision[] = requests.map((request, i) =>
      ALGORITHM_IMPLS[request.algorithm].evaluate(this.#live(ids[i]!, now)?.state, request, now)
    );
    const outcome = combineDecisions(decisions);
    if (outcome.allowed) {
      const full = this.#wontFit(requests, ids, now);
      if (full !== undefined) return this.#refuse(requests, ids, full, outcome, now);
      requests.forEach((request, i) => {
        if (request.cost > 0) this.#commit(ids[i]!, request, now);
      });
    } else {
      // Nothing is consumed: limits that allowed on their own report their state without it.
      requests.forEach((request, i) => {
        if (decisions[i]!.allowed && request.cost > 0) {
          const peek = ALGORITHM_IMPLS[request.algorithm].evaluate(
            this.#live(ids[i]!, now)?.state,
            { ...request, cost: 0 },
            now,
          );
          decisions[i] = { ...peek, allowed: true, retryAfterMs: 0 };
        }
      });
    }
    return outcome;
  }

  /**
   * The cap committing `requests` could cross, or `undefined` if they fit. A commit adds at most
   * one unit to a key's weight (a sliding log stores one entry per request, whatever its cost),
   * plus one for a new key.
   */
  #wontFit(requests: LimitRequest[], ids: string[], now: number): MemoryStoreCap | undefined {
    let newKeys = 0;
    let units = 0;
    requests.forEach((request, i) => {
      if (request.cost === 0) return;
      const entry = this.#entries.get(ids[i]!);
      if (entry === undefined) {
        if (ids.indexOf(ids[i]!) === i) newKeys++;
        units += 1 + COMMIT_GROWTH;
      } else {
        // Evaluating pruned the state: weigh it again, the difference frees units.
        units += ALGORITHM_IMPLS[request.algorithm].weight(entry.state) - entry.weight +
          COMMIT_GROWTH;
      }
    });
    const fits = () =>
      this.#entries.size + newKeys <= this.#maxKeys && this.#units + units <= this.#maxUnits;
    if (fits()) return undefined;
    // Expired keys may still hold room: drop a bounded number of them, then look again.
    this.#drain(now, FULL_DRAIN_STEPS);
    if (fits()) return undefined;
    return this.#entries.size + newKeys > this.#maxKeys ? "keys" : "units";
  }

  /**
   * Answers a check the store cannot take. `closed`: throws a 503 `store_full`, nothing counted.
   * `open`: counts the limits of keys already held whose growth fits, allows the rest uncounted.
   */
  #refuse(
    requests: LimitRequest[],
    ids: string[],
    cap: MemoryStoreCap,
    outcome: CheckOutcome,
    now: number,
  ): CheckOutcome {
    const answer = this.#whenFull;
    this.#refusals++;
    this.#metrics?.memoryRefusals.inc({ cap, answer });
    this.#metrics?.degradedDecisions.inc({ mode: answer });
    this.#logFull(cap, now);
    if (answer === "closed") {
      throw new ApiError(
        503,
        STORE_FULL_CODE,
        `The embedded store is full (${cap === "keys" ? "key" : "unit"} cap reached): ` +
          "this check needs room it does not have",
        { headers: { "Retry-After": "1" } },
      );
    }
    requests.forEach((request, i) => {
      if (request.cost === 0) return;
      const entry = this.#entries.get(ids[i]!);
      if (entry === undefined) return;
      const impl = ALGORITHM_IMPLS[request.algorithm];
      if (this.#units + impl.weight(entry.state) - entry.weight + COMMIT_GROWTH > this.#maxUnits) {
        return;
      }
      this.#commit(ids[i]!, request, now);
    });
    return { ...outcome, degraded: "open" };
  }

  #logFull(cap: MemoryStoreCap, now: number): void {
    this.#refusedSinceLog++;
    if (this.#logger === undefined || now - this.#lastFullLog < FULL_LOG_INTERVAL_MS) return;
    this.#logger.warn("memory_store_full", {
      cap,
      answer: this.#whenFull,
      keys: this.#entries.size,
      max_keys: this.#maxKeys,
      units: this.#units,
      max_units: this.#maxUnits,
      refused_since_last_log: this.#refusedSinceLog,
    });
    this.#lastFullLog = now;
    this.#refusedSinceLog = 0;
  }

  #commit(id: string, request: LimitRequest, now: number): void {
    const impl = ALGORITHM_IMPLS[request.algorithm];
    const existing = this.#entries.get(id);
    const state = impl.commit(existing?.state, request, now);
    const weight = impl.weight(state);
    if (existing === undefined) {
      const entry: Entry = {
        seq: ++this.#seq,
        id,
        algorithm: request.algorithm,
        key: request.key,
        state,
        expiresAt: impl.expiresAt(state),
        weight,
        bucket: NOT_FILED,
        slot: 0,
        orderSlot: 0,
      };
      this.#entries.set(id, entry);
      this.#order.add(entry);
      this.#units += weight;
      this.#expiry.file(entry);
    } else {
      existing.state = state;
      existing.expiresAt = impl.expiresAt(state);
      this.#units += weight - existing.weight;
      existing.weight = weight;
      this.#expiry.file(existing);
    }
    this.#drain(now, WRITE_DRAIN_STEPS);
  }

  #delete(entry: Entry): void {
    this.#entries.delete(entry.id);
    this.#order.remove(entry);
    this.#units -= entry.weight;
    this.#expiry.remove(entry);
  }

  readonly #dropExpired = (entry: Entry): void => {
    this.#entries.delete(entry.id);
    this.#order.remove(entry);
    this.#units -= entry.weight;
  };

  #drain(now: number, budget: number): number {
    const steps = this.#expiry.drain(now, budget, this.#dropExpired);
    this.#expirySteps += steps;
    return steps;
  }

  /**
   * Drops expired keys in expiry order, taking at most `budget` index steps (a key dropped or
   * re-filed, an empty bucket passed). Returns the steps taken.
   */
  sweep(budget: number = this.#sweepBudget, now: number = this.#clock()): number {
    return this.#drain(now, budget);
  }

  reset(key: string): Promise<boolean> {
    let found = false;
    const now = this.#clock();
    for (const algorithm of Object.keys(ALGORITHM_IMPLS) as Algorithm[]) {
      const id = counterKey(ALGORITHM_KEY_PREFIX, algorithm, key);
      const entry = this.#live(id, now);
      if (entry !== undefined) {
        this.#delete(entry);
        found = true;
      }
    }
    return Promise.resolve(found);
  }

  /**
   * Lists counters in creation order, from the first key created after the cursor (found by binary
   * search). A page examines at most `limit × PAGE_WORK_FACTOR` keys, expired and non-matching
   * ones included, and stops there with a cursor even if it holds fewer than `limit` counters (or
   * none); a key that lives through a whole page-through is returned exactly once.
   */
  listCounters(options: ListCountersOptions): Promise<CounterPage> {
    const now = this.#clock();
    const after = parseCursor(options.cursor);
    const budget = options.limit * PAGE_WORK_FACTOR;
    const counters: CounterInfo[] = [];
    let last = after;
    let examined = 0;
    let more = false;
    // Nothing below removes a key, so slots keep their positions while this walks them.
    for (let slot = this.#order.seek(after); slot < this.#order.slots; slot++) {
      if (counters.length >= options.limit || examined >= budget) {
        more = true;
        break;
      }
      examined++;
      last = this.#order.seqAt(slot);
      const entry = this.#order.itemAt(slot);
      if (entry === undefined || entry.expiresAt <= now) continue;
      if (options.prefix !== undefined && !entry.key.startsWith(options.prefix)) continue;
      const impl = ALGORITHM_IMPLS[entry.algorithm];
      const params = impl.params(entry.state);
      const decision = impl.evaluate(entry.state, {
        ...params,
        key: entry.key,
        algorithm: entry.algorithm,
        cost: 0,
      }, now);
      counters.push({
        key: entry.key,
        algorithm: entry.algorithm,
        limit: params.limit,
        windowMs: params.windowMs,
        decision,
      });
    }
    this.#listSteps += examined;
    return Promise.resolve({ counters, nextCursor: more ? String(last) : undefined });
  }

  countCounters(): Promise<number> {
    return Promise.resolve(this.#entries.size);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  status(): StoreStatus {
    return "up";
  }

  close(): Promise<void> {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    return Promise.resolve();
  }
}

/**
 * The sequence number a cursor of {@linkcode MemoryStore.listCounters} stands for. Throws a
 * `RangeError` for a cursor this store could not have issued: not decimal digits, or past
 * `Number.MAX_SAFE_INTEGER` (where distinct numbers would compare equal).
 */
function parseCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === "") return 0;
  const seq = /^\d{1,16}$/.test(cursor) ? Number(cursor) : NaN;
  if (!Number.isSafeInteger(seq)) {
    throw new RangeError(`Cannot parse cursor ${JSON.stringify(cursor)}`);
  }
  return seq;
}
