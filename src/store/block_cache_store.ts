/**
 * The over-limit cache: once the store denies a key, the node answers that key from memory until
 * the key would unblock, without a store round trip. A hot key far over its limit then costs a
 * map lookup instead of a Redis script.
 *
 * @module
 */
import type { MonotonicClock } from "../clock.ts";
import {
  type Algorithm,
  algorithmParam,
  type CheckOutcome,
  type Decision,
  type LimitRequest,
} from "../limiter/types.ts";
import type { CounterPage, ListCountersOptions, Store, StoreStatus } from "./types.ts";

/**
 * Algorithms whose denials may be cached. An algorithm belongs here only if its `retryAfterMs` is
 * the earliest time the same request could fit, and any further consumption of the key under the
 * same parameters (by any node) can only move that time later. The sliding log qualifies: a denial
 * ends when enough of the oldest entries expire, and new entries are always newer. The sliding
 * window (an estimate) is left out: the cache makes no claim about it.
 */
export const BLOCK_CACHE_ALGORITHMS: readonly Algorithm[] = [
  "sliding_log",
  "fixed_window",
  "token_bucket",
  "gcra",
];

/** Most parameter sets and costs remembered per key; a key is nearly always checked under one. */
const MAX_VARIANTS = 4;
/** Keys examined for expired blocks before the oldest live one is evicted. */
const EVICTION_SCAN = 64;

/**
 * Where the keys whose limits or counters changed on any node are announced: the cluster's events
 * (override changed, counter reset) fit it. Returns the function that unsubscribes.
 */
export interface KeyChanges {
  subscribe(listener: (change: { key: string }) => void): () => void;
}

/** Options for {@linkcode BlockCacheStore}. */
export interface BlockCacheStoreOptions {
  /** The store that decides; its denials are remembered. */
  inner: Store;
  /** Override and reset events from every node; each drops what is remembered of its key. */
  events: KeyChanges;
  /** Monotonic time source in milliseconds. @default {performance.now} */
  clock?: MonotonicClock;
  /** Most keys remembered; past it expired entries are dropped, then the oldest. @default {100000} */
  maxKeys?: number;
  /** Called once per check answered from memory. @default {no-op} */
  onHit?: () => void;
  /** Algorithms whose denials are remembered. @default {BLOCK_CACHE_ALGORITHMS} */
  algorithms?: readonly Algorithm[];
}

/** One remembered denial of a key under one algorithm and parameters. */
interface Block {
  readonly algorithm: Algorithm;
  readonly limit: number;
  readonly windowMs: number;
  /** `burst` for gcra, `refillRate` for token_bucket, 0 otherwise (see `algorithmParam`). */
  readonly param: number;
  /** The cost denied (1 for a peek); the block answers requests of this cost only. */
  readonly cost: number;
  /** The block certainly holds while the clock is below this. */
  readonly until: number;
  /** Earliest time a retry can fit, as reported to clients (never early). */
  readonly retryAt: number;
  readonly resetAt: number;
  readonly count: number;
  readonly remaining: number;
}

/**
 * A {@linkcode Store} decorator that answers checks of keys known to be over their limit from
 * memory, without calling the inner store.
 *
 * Exactness: a denial returned by the inner store with retry time `r` is remembered until
 * `t0 + r − 1 ms` (or until the oldest entry expires, if sooner, so that the count does not change
 * meanwhile), where `t0` is when this node *started* the store call. The store decided no
 * earlier than `t0` and `r` is rounded up to whole milliseconds, so the remembered block ends
 * before the real one: the cache never denies a request the store would have allowed. Only
 * durations on this node's monotonic clock are used, so clock skew between the node and Redis
 * does not matter. Two windows remain, both documented: a reset or override made on another node
 * applies here when its event arrives, and if Redis loses data without
 * this node seeing an error, remembered blocks outlive it by at most their remaining time. Any
 * failed or degraded store call forgets everything.
 *
 * A block answers later requests of the same key, algorithm, limit, window, burst or refill rate,
 * and cost (a peek counts as cost 1): a denial under burst 1 says nothing of burst 10. A larger
 * cost would be denied too, but its retry time is later than the block knows, so it goes to the
 * store for an exact answer. A multi-limit check is answered from memory only when every one of
 * its limits is known blocked, since the answer reports each limit's state. An allowed check of a
 * key forgets its blocks under that algorithm whatever their parameters (a token bucket checked
 * under a faster refill rate gains tokens for the time since its last check, so a denial learnt
 * under a slower rate can end early); on another node such a check is not seen, and the key
 * expires once full at the last counted check's rate, so do not mix refill rates (or limits) on
 * one token-bucket key with the cache on.
 * Answers from memory equal the store's, field for field, for a key checked under one window;
 * checks of one key under several windows prune each other's log in the store, which a remembered
 * block cannot see, so do not mix windows on one key with the cache on.
 */
export class BlockCacheStore implements Store {
  readonly #inner: Store;
  readonly #clock: MonotonicClock;
  readonly #maxKeys: number;
  readonly #onHit: () => void;
  readonly #algorithms: ReadonlySet<Algorithm>;
  readonly #blocks = new Map<string, Block[]>();
  readonly #unsubscribe: () => void;
  /** Bumped by every invalidation; a store answer started under an older epoch is not learnt. */
  #epoch = 0;
  #hits = 0;

  constructor(options: BlockCacheStoreOptions) {
    const maxKeys = options.maxKeys ?? 100_000;
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
      throw new RangeError(`Cannot use maxKeys: expected a positive integer, received ${maxKeys}`);
    }
    this.#inner = options.inner;
    this.#clock = options.clock ?? (() => performance.now());
    this.#maxKeys = maxKeys;
    this.#onHit = options.onHit ?? (() => {});
    this.#algorithms = new Set(options.algorithms ?? BLOCK_CACHE_ALGORITHMS);
    this.#unsubscribe = options.events.subscribe((event) => this.invalidate(event.key));
  }

  get kind(): Store["kind"] {
    return this.#inner.kind;
  }

  /** Number of keys remembered, expired or not. */
  get size(): number {
    return this.#blocks.size;
  }

  /** Checks answered from memory since start. */
  get hits(): number {
    return this.#hits;
  }

  /** Forgets every block of `key`, and stops in-flight store answers from being learnt. */
  invalidate(key: string): void {
    this.#epoch++;
    this.#blocks.delete(key);
  }

  /** Forgets everything. */
  clear(): void {
    this.#epoch++;
    this.#blocks.clear();
  }

  async check(requests: LimitRequest[]): Promise<CheckOutcome> {
    const now = this.#clock();
    const cached = this.#answer(requests, now);
    if (cached !== undefined) return cached;
    const epoch = this.#epoch;
    let outcome: CheckOutcome;
    try {
      outcome = await this.#inner.check(requests);
    } catch (error) {
      this.clear();
      throw error;
    }
    this.#learn(requests, outcome, now, this.#clock(), epoch);
    return outcome;
  }

  async checkMany(groups: LimitRequest[][]): Promise<CheckOutcome[]> {
    const now = this.#clock();
    const outcomes: (CheckOutcome | undefined)[] = groups.map((g) => this.#answer(g, now));
    const missed: number[] = [];
    outcomes.forEach((outcome, i) => {
      if (outcome === undefined) missed.push(i);
    });
    if (missed.length > 0) {
      const epoch = this.#epoch;
      let fresh: CheckOutcome[];
      try {
        fresh = await this.#inner.checkMany(missed.map((i) => groups[i]!));
      } catch (error) {
        this.clear();
        throw error;
      }
      const ended = this.#clock();
      missed.forEach((groupIndex, j) => {
        outcomes[groupIndex] = fresh[j]!;
        this.#learn(groups[groupIndex]!, fresh[j]!, now, ended, epoch);
      });
    }
    return outcomes as CheckOutcome[];
  }

  /** The outcome from memory when every limit of the check is known blocked, else `undefined`. */
  #answer(requests: LimitRequest[], now: number): CheckOutcome | undefined {
    if (this.#blocks.size === 0) return undefined;
    let decisions: Decision[] | undefined;
    for (let i = 0; i < requests.length; i++) {
      const request = requests[i]!;
      const block = this.#find(request, now);
      if (block === undefined) return undefined;
      decisions ??= [];
      decisions.push({
        allowed: false,
        count: block.count,
        remaining: block.remaining,
        retryAfterMs: Math.max(1, Math.ceil(block.retryAt - now)),
        resetAfterMs: Math.max(0, Math.ceil(block.resetAt - now)),
      });
    }
    if (decisions === undefined) return undefined;
    this.#hits++;
    this.#onHit();
    return { allowed: false, decisions, deniedIndex: 0 };
  }

  #find(request: LimitRequest, now: number): Block | undefined {
    const blocks = this.#blocks.get(request.key);
    if (blocks === undefined) return undefined;
    const need = request.cost === 0 ? 1 : request.cost;
    for (const block of blocks) {
      if (
        block.algorithm === request.algorithm && block.limit === request.limit &&
        block.windowMs === request.windowMs && block.param === algorithmParam(request) &&
        block.cost === need && now < block.until
      ) {
        return block;
      }
    }
    return undefined;
  }

  #learn(
    requests: LimitRequest[],
    outcome: CheckOutcome,
    started: number,
    ended: number,
    epoch: number,
  ): void {
    if (outcome.degraded !== undefined) {
      // The answer did not come from the store, and the store may come back without its data.
      this.clear();
      return;
    }
    if (epoch !== this.#epoch) return;
    for (let i = 0; i < requests.length; i++) {
      const request = requests[i]!;
      const decision = outcome.decisions[i];
      if (decision === undefined || !this.#algorithms.has(request.algorithm)) continue;
      if (decision.allowed) {
        // The count moved (under these or other parameters), or a remembered block no longer
        // holds (reset elsewhere): drop them.
        if (this.#blocks.has(request.key)) this.#forget(request);
        continue;
      }
      const need = request.cost === 0 ? 1 : request.cost;
      // A cost above the limit never fits: the store answers it cheaply and its retry time is
      // not a time at which anything changes, so there is nothing worth remembering.
      if (need > request.limit || decision.resetAfterMs <= 0) continue;
      // Until the oldest entry expires the count cannot fall, so answers from memory report the
      // same count and remaining as the store would.
      const until = started + Math.min(decision.retryAfterMs, decision.resetAfterMs) - 1;
      if (until <= ended) continue;
      this.#remember(request.key, {
        algorithm: request.algorithm,
        limit: request.limit,
        windowMs: request.windowMs,
        param: algorithmParam(request),
        cost: need,
        until,
        retryAt: ended + decision.retryAfterMs,
        resetAt: ended + decision.resetAfterMs,
        count: decision.count,
        remaining: decision.remaining,
      }, ended);
    }
  }

  #forget(request: LimitRequest): void {
    const blocks = this.#blocks.get(request.key)!;
    const kept = blocks.filter((b) => b.algorithm !== request.algorithm);
    if (kept.length === 0) this.#blocks.delete(request.key);
    else this.#blocks.set(request.key, kept);
  }

  #remember(key: string, block: Block, now: number): void {
    const blocks = this.#blocks.get(key);
    if (blocks === undefined) {
      this.#blocks.set(key, [block]);
      if (this.#blocks.size > this.#maxKeys) this.#evict(now, key);
      return;
    }
    const same = blocks.findIndex((b) =>
      b.algorithm === block.algorithm && b.limit === block.limit &&
      b.windowMs === block.windowMs && b.param === block.param && b.cost === block.cost
    );
    if (same >= 0) {
      blocks[same] = block;
    } else if (blocks.length < MAX_VARIANTS) {
      blocks.push(block);
    } else {
      let soonest = 0;
      for (let i = 1; i < blocks.length; i++) {
        if (blocks[i]!.until < blocks[soonest]!.until) soonest = i;
      }
      blocks[soonest] = block;
    }
    // Re-insert so the map's order is least recently learnt first, for eviction.
    this.#blocks.delete(key);
    this.#blocks.set(key, blocks);
  }

  #evict(now: number, keep: string): void {
    let scanned = 0;
    for (const [key, blocks] of this.#blocks) {
      if (this.#blocks.size <= this.#maxKeys) return;
      if (scanned++ >= EVICTION_SCAN) break;
      if (key !== keep && blocks.every((b) => b.until <= now)) this.#blocks.delete(key);
    }
    for (const key of this.#blocks.keys()) {
      if (this.#blocks.size <= this.#maxKeys) return;
      if (key !== keep) this.#blocks.delete(key);
    }
  }

  async reset(key: string): Promise<boolean> {
    this.invalidate(key);
    try {
      return await this.#inner.reset(key);
    } finally {
      // A check that started before the reset and learnt after it must not survive it.
      this.invalidate(key);
    }
  }

  listCounters(options: ListCountersOptions): Promise<CounterPage> {
    return this.#inner.listCounters(options);
  }

  countCounters(): Promise<number> {
    return this.#inner.countCounters();
  }

  ping(): Promise<void> {
    return this.#inner.ping();
  }

  status(): StoreStatus {
    return this.#inner.status();
  }

  close(): Promise<void> {
    this.#unsubscribe();
    this.clear();
    return this.#inner.close();
  }
}
