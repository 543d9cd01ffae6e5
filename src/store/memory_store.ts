import type { Clock } from "../clock.ts";
import { ALGORITHM_IMPLS } from "../limiter/algorithms.ts";
import {
  type Algorithm,
  type CheckOutcome,
  combineDecisions,
  type Decision,
  type LimitRequest,
} from "../limiter/types.ts";
import { counterKey } from "./keys.ts";
import type { CounterInfo, CounterPage, ListCountersOptions, Store, StoreStatus } from "./types.ts";

/** Options for {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /** Source of time. @default {Date.now} */
  clock?: Clock;
  /** Most keys held; past it expired keys are purged, then the oldest-created are evicted. @default {1000000} */
  maxKeys?: number;
  /** Most stored units (sliding-log entries) over all keys, evicted the same way. @default {20000000} */
  maxUnits?: number;
  /** Milliseconds between background sweeps of expired keys; 0 disables them. @default {1000} */
  sweepIntervalMs?: number;
  /** Most keys looked at by one background sweep. @default {20000} */
  sweepBatch?: number;
}

interface Entry {
  readonly seq: number;
  readonly algorithm: Algorithm;
  readonly key: string;
  state: unknown;
  expiresAt: number;
  weight: number;
}

const ALGORITHM_KEY_PREFIX = "m";

/**
 * The embedded store: the same algorithms as the Redis scripts, over in-process memory, for a
 * single node with no Redis. Expired state is swept in the background and memory is capped.
 */
export class MemoryStore implements Store {
  readonly kind = "memory" as const;
  readonly #clock: Clock;
  readonly #maxKeys: number;
  readonly #maxUnits: number;
  readonly #sweepBatch: number;
  readonly #entries = new Map<string, Entry>();
  #seq = 0;
  #units = 0;
  #evictions = 0;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #sweepIterator: Iterator<[string, Entry]> | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 1_000_000;
    this.#maxUnits = options.maxUnits ?? 20_000_000;
    this.#sweepBatch = options.sweepBatch ?? 20_000;
    const interval = options.sweepIntervalMs ?? 1000;
    if (interval > 0) {
      this.#sweeper = setInterval(() => this.sweep(this.#sweepBatch), interval);
      Deno.unrefTimer(this.#sweeper);
    }
  }

  /** Keys evicted live because a memory cap was reached, since start. */
  get evictions(): number {
    return this.#evictions;
  }

  /** Number of keys held, expired or not. */
  get size(): number {
    return this.#entries.size;
  }

  check(requests: LimitRequest[]): Promise<CheckOutcome> {
    return Promise.resolve(this.#check(requests, this.#clock()));
  }

  checkMany(groups: LimitRequest[][]): Promise<CheckOutcome[]> {
    const now = this.#clock();
    return Promise.resolve(groups.map((group) => this.#check(group, now)));
  }

  #live(id: string, now: number): Entry | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.#delete(id, entry);
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

  #commit(id: string, request: LimitRequest, now: number): void {
    const impl = ALGORITHM_IMPLS[request.algorithm];
    const existing = this.#entries.get(id);
    const state = impl.commit(existing?.state, request, now);
    const weight = impl.weight(state);
    if (existing === undefined) {
      this.#entries.set(id, {
        seq: ++this.#seq,
        algorithm: request.algorithm,
        key: request.key,
        state,
        expiresAt: impl.expiresAt(state),
        weight,
      });
      this.#units += weight;
    } else {
      existing.state = state;
      existing.expiresAt = impl.expiresAt(state);
      this.#units += weight - existing.weight;
      existing.weight = weight;
    }
    if (this.#entries.size > this.#maxKeys || this.#units > this.#maxUnits) this.#makeRoom(now, id);
  }

  #delete(id: string, entry: Entry): void {
    this.#entries.delete(id);
    this.#units -= entry.weight;
  }

  #makeRoom(now: number, keep: string): void {
    this.sweep(Infinity, now);
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxKeys && this.#units <= this.#maxUnits) break;
      if (id === keep) continue;
      this.#delete(id, entry);
      this.#evictions++;
    }
  }

  /** Drops expired keys, looking at up to `budget` keys from where the last sweep stopped. */
  sweep(budget: number, now: number = this.#clock()): void {
    let iterator = this.#sweepIterator ?? this.#entries.entries();
    for (let seen = 0; seen < budget; seen++) {
      let step = iterator.next();
      if (step.done) {
        if (budget === Infinity) break;
        iterator = this.#entries.entries();
        step = iterator.next();
        if (step.done) break;
      }
      const [id, entry] = step.value;
      if (entry.expiresAt <= now) this.#delete(id, entry);
    }
    this.#sweepIterator = budget === Infinity ? undefined : iterator;
  }

  reset(key: string): Promise<boolean> {
    let found = false;
    const now = this.#clock();
    for (const algorithm of Object.keys(ALGORITHM_IMPLS) as Algorithm[]) {
      const id = counterKey(ALGORITHM_KEY_PREFIX, algorithm, key);
      const entry = this.#live(id, now);
      if (entry !== undefined) {
        this.#delete(id, entry);
        found = true;
      }
    }
    return Promise.resolve(found);
  }

  listCounters(options: ListCountersOptions): Promise<CounterPage> {
    const now = this.#clock();
    const after = parseCursor(options.cursor);
    const counters: CounterInfo[] = [];
    let last = after;
    let more = false;
    // The map is in creation order and seq grows with it, so entries at or before the cursor
    // form a prefix; keys that live through a whole page-through are returned exactly once.
    for (const entry of this.#entries.values()) {
      if (entry.seq <= after) continue;
      if (counters.length >= options.limit) {
        more = true;
        break;
      }
      last = entry.seq;
      if (entry.expiresAt <= now) continue;
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
