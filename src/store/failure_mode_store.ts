import type { WallClock } from "../clock.ts";
import { StoreUnavailableError } from "../errors.ts";
import { ALGORITHM_IMPLS } from "../limiter/algorithms.ts";
import { type CheckOutcome, combineDecisions, type LimitRequest } from "../limiter/types.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { MemoryStore } from "./memory_store.ts";
import type { CounterPage, ListCountersOptions, Store, StoreStatus } from "./types.ts";

/** How `/check` answers while the store (Redis) cannot be reached. */
export const FAILURE_MODES = ["open", "closed", "local"] as const;
/** One of {@linkcode FAILURE_MODES}. */
export type FailureMode = typeof FAILURE_MODES[number];

/** The metrics {@linkcode FailureModeStore} keeps. */
export type FailureModeStoreMetrics = Pick<Metrics, "degradedDecisions">;

/** Options for {@linkcode FailureModeStore}. */
export interface FailureModeStoreOptions {
  /** The store that decides while it can (in production the {@linkcode BreakerStore}). */
  inner: Store;
  /** What checks answer while the inner store cannot. @default {"open"} */
  failureMode?: FailureMode;
  /**
   * Nodes sharing the load, for the `local` mode: each node enforces `ceil(limit / liveNodes())`.
   * Values below 1 or not finite count as 1. @default {() => 1}
   */
  liveNodes?: () => number;
  /**
   * Most limits one store call of a batch carries: `checkMany` sends a larger batch as chunks of
   * at most this many limits (whole groups; a group larger than this goes alone), one after the
   * other, each a call of its own to the inner store (with its own deadline there).
   * @default {BATCH_CHUNK_LIMITS}
   */
  batchChunkLimits?: number;
  /** Most keys the in-process limiter of the `local` mode holds. @default {100000} */
  localMaxKeys?: number;
  /** Where to count degraded decisions. @default {none} */
  metrics?: FailureModeStoreMetrics;
  /** Wall-clock time source of the `open` and `local` answers, in ms since the epoch. @default {Date.now} */
  clock?: WallClock;
}

/**
 * Default most limits per store call of a batch: about what Redis runs in a millisecond or two, so
 * a chunk fits the deadline of a single check with room to spare.
 */
export const BATCH_CHUNK_LIMITS = 100;

/** Splits `groups` into runs of whole groups holding at most `maxLimits` limits (at least one group). */
export function chunkGroups(groups: LimitRequest[][], maxLimits: number): LimitRequest[][][] {
  const chunks: LimitRequest[][][] = [];
  let chunk: LimitRequest[][] = [];
  let limits = 0;
  for (const group of groups) {
    if (chunk.length > 0 && limits + group.length > maxLimits) {
      chunks.push(chunk);
      chunk = [];
      limits = 0;
    }
    chunk.push(group);
    limits += group.length;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * A {@linkcode Store} decorator that answers checks the inner store failed with a
 * {@linkcode StoreUnavailableError} according to the failure mode:
 *
 * - `open`: allowed, answered as if the key's window were empty (`current_count` = cost,
 *   `remaining` = limit − cost), nothing counted, marked `degraded: "open"`;
 * - `closed`: the error itself (503);
 * - `local`: decided by an in-process {@linkcode MemoryStore} on the same algorithm with the limit
 *   cut to `ceil(limit / liveNodes())` (an explicit `burst` or `refillRate` likewise), marked
 *   `degraded: "local"`.
 *
 * Each such check counts in `ratelimiter_degraded_decisions_total{mode}`. Other errors, and every
 * management call (`reset`, `listCounters`, `countCounters`, `ping`), pass through unchanged. A
 * check answered by the failure mode may still be counted by the store afterwards (a call that
 * timed out can reach a paused Redis later); the store never over-allows because of that.
 */
export class FailureModeStore implements Store {
  readonly #inner: Store;
  readonly #batchChunkLimits: number;
  readonly #failureMode: FailureMode;
  readonly #liveNodes: () => number;
  readonly #metrics: FailureModeStoreMetrics | undefined;
  readonly #clock: WallClock;
  readonly #local: MemoryStore | undefined;

  constructor(options: FailureModeStoreOptions) {
    this.#inner = options.inner;
    this.#batchChunkLimits = options.batchChunkLimits ?? BATCH_CHUNK_LIMITS;
    if (!Number.isSafeInteger(this.#batchChunkLimits) || this.#batchChunkLimits < 1) {
      throw new RangeError(
        `Cannot use batchChunkLimits ${this.#batchChunkLimits}: expected an integer ≥ 1`,
      );
    }
    this.#failureMode = options.failureMode ?? "open";
    this.#liveNodes = options.liveNodes ?? (() => 1);
    this.#metrics = options.metrics;
    this.#clock = options.clock ?? Date.now;
    if (this.#failureMode === "local") {
      this.#local = new MemoryStore({
        clock: this.#clock,
        maxKeys: options.localMaxKeys ?? 100_000,
      });
    }
  }

  /** The inner store's kind. */
  get kind(): Store["kind"] {
    return this.#inner.kind;
  }

  async check(requests: LimitRequest[]): Promise<CheckOutcome> {
    try {
      return await this.#inner.check(requests);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      return (await this.#degrade([requests], error))[0]!;
    }
  }

  /**
   * Decides a batch as chunks of at most `batchChunkLimits` limits, sent one after the other and
   * answered in order: under a {@linkcode BreakerStore} each chunk has the deadline of a single
   * check from the moment it is sent, so a batch's time fits its size and it never degrades
   * merely because it is large. The first chunk that fails ends the calls (one failure for the
   * breaker): the rest of the batch (that chunk and the ones after it) is answered by the failure
   * mode without calling the store.
   */
  async checkMany(groups: LimitRequest[][]): Promise<CheckOutcome[]> {
    const outcomes: CheckOutcome[] = [];
    for (const chunk of chunkGroups(groups, this.#batchChunkLimits)) {
      try {
        outcomes.push(...await this.#inner.checkMany(chunk));
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error;
        outcomes.push(...await this.#degrade(groups.slice(outcomes.length), error));
        break;
      }
    }
    return outcomes;
  }

  reset(key: string): Promise<boolean> {
    return this.#inner.reset(key);
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

  /** Stops the local limiter, then closes the inner store. */
  async close(): Promise<void> {
    await this.#local?.close();
    await this.#inner.close();
  }

  async #degrade(
    groups: LimitRequest[][],
    error: StoreUnavailableError,
  ): Promise<CheckOutcome[]> {
    const mode = this.#failureMode;
    this.#metrics?.degradedDecisions.inc({ mode }, groups.length);
    if (mode === "closed") throw error;
    if (mode === "open") {
      const now = this.#clock();
      return groups.map((group) => ({
        ...combineDecisions(
          group.map((r) => ALGORITHM_IMPLS[r.algorithm].evaluate(undefined, r, now)),
        ),
        degraded: "open" as const,
      }));
    }
    const share = this.#liveNodeCount();
    const scaled = groups.map((group) => group.map((r) => localShare(r, share)));
    const outcomes = await this.#local!.checkMany(scaled);
    return outcomes.map((outcome) => ({ ...outcome, degraded: "local" as const }));
  }

  #liveNodeCount(): number {
    let n: number;
    try {
      n = this.#liveNodes();
    } catch {
      n = 1;
    }
    return Number.isFinite(n) && n >= 1 ? Math.floor(n) : 1;
  }
}

/**
 * This node's share of a limit in the `local` mode: `limit`, and an explicit gcra `burst` or
 * token_bucket `refillRate`, each divided by the live nodes (rounded up, at least 1), so the nodes
 * together allow about what the shared store would. Unset ones default to the divided limit.
 */
function localShare(request: LimitRequest, nodes: number): LimitRequest {
  const share = (n: number) => Math.max(1, Math.ceil(n / nodes));
  const scaled: LimitRequest = { ...request, limit: share(request.limit) };
  if (request.burst !== undefined) scaled.burst = share(request.burst);
  if (request.refillRate !== undefined) scaled.refillRate = share(request.refillRate);
  return scaled;
}
