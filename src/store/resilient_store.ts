import type { WallClock } from "../clock.ts";
import type { FailureMode } from "../config.ts";
import { StoreUnavailableError } from "../errors.ts";
import { ALGORITHM_IMPLS } from "../limiter/algorithms.ts";
import { type CheckOutcome, combineDecisions, type LimitRequest } from "../limiter/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import {
  CIRCUIT_STATE_GAUGE,
  CircuitBreaker,
  type CircuitState,
  type CircuitTransition,
} from "./circuit_breaker.ts";
import { Deadlines, TIMED_OUT } from "./deadlines.ts";
import { MemoryStore } from "./memory_store.ts";
import type { CounterPage, ListCountersOptions, Store, StoreStatus } from "./types.ts";

/**
 * Kinds of failed store calls, the `kind` label of `ratelimiter_store_errors_total`:
 * `timeout` (no answer within the deadline), `connection` (the client could not send or lost the
 * connection), `reply` (Redis answered with an error: script error, OOM, LOADING…),
 * `circuit_open` (not attempted: the breaker is open), `overload` (not attempted: too many calls
 * still waiting for an answer).
 */
export const STORE_FAILURE_KINDS = [
  "timeout",
  "connection",
  "reply",
  "circuit_open",
  "overload",
] as const;
/** One of {@linkcode STORE_FAILURE_KINDS}. */
export type StoreFailureKind = typeof STORE_FAILURE_KINDS[number];

/** The metrics {@linkcode ResilientStore} keeps. */
export type ResilienceMetrics = Pick<
  Metrics,
  "storeUp" | "storeErrors" | "degradedDecisions" | "circuitState"
>;

/** Options for {@linkcode ResilientStore}. */
export interface ResilientStoreOptions {
  /** The store to protect (in production the {@linkcode RedisStore}). */
  inner: Store;
  /** Deadline of a check, reset or ping, in ms. @default {100} */
  timeoutMs?: number;
  /** What checks answer while the inner store cannot. @default {"open"} */
  failureMode?: FailureMode;
  /**
   * Nodes sharing the load, for the `local` mode: each node enforces `ceil(limit / liveNodes())`.
   * Values below 1 or not finite count as 1. @default {() => 1}
   */
  liveNodes?: () => number;
  /** Consecutive failed calls that open the circuit. @default {3} */
  failureThreshold?: number;
  /** Time between probes (one PING each) while the circuit is open, in ms. @default {500} */
  probeIntervalMs?: number;
  /**
   * Most limits one store call of a batch carries: `checkMany` sends a larger batch as chunks of
   * at most this many limits (whole groups; a group larger than this goes alone), one after the
   * other, each with the deadline of a check. @default {BATCH_CHUNK_LIMITS}
   */
  batchChunkLimits?: number;
  /** Deadline of a `listCounters` page, in ms. @default {max(1000, timeoutMs)} */
  listTimeoutMs?: number;
  /** Deadline of `countCounters` (a full SCAN, background only), in ms. @default {max(10000, timeoutMs)} */
  countTimeoutMs?: number;
  /**
   * Most calls that may be waiting for the inner store at once, timed-out ones included (a paused
   * Redis answers them late). Past it calls fail at once with kind `overload`. @default {10000}
   */
  maxInFlight?: number;
  /** Most keys the in-process limiter of the `local` mode holds. @default {100000} */
  localMaxKeys?: number;
  /** Where to count errors, degraded decisions and the circuit state. @default {none} */
  metrics?: ResilienceMetrics;
  /** Where circuit transitions are logged (once each). @default {none} */
  logger?: Logger;
  /** Wall-clock time source, in ms since the epoch. @default {Date.now} */
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

function start<T>(run: () => Promise<T>): Promise<T> {
  try {
    return run();
  } catch (error) {
    return Promise.reject(error);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Kind of a store failure from the error the inner store threw. */
function classify(error: StoreUnavailableError): StoreFailureKind {
  if ((STORE_FAILURE_KINDS as readonly string[]).includes(error.kind ?? "")) {
    return error.kind as StoreFailureKind;
  }
  const cause = error.cause;
  // node-redis reports an error reply from the server as ErrorReply (SimpleError in RESP3).
  const name = cause instanceof Error ? cause.constructor.name : "";
  return name === "ErrorReply" || name === "SimpleError" ? "reply" : "connection";
}

/**
 * A {@linkcode Store} decorator that keeps the service answering fast while its store cannot.
 *
 * Every call gets a deadline, checked by one shared timer every `DEADLINE_GRANULARITY_MS` (5 ms,
 * in `deadlines.ts`): a call times out up to that much after its deadline. Checks, resets and
 * pings feed a {@linkcode CircuitBreaker}: after a few consecutive failures it opens, calls are
 * refused at once (no request waits on a dead Redis), and one PING every `probeIntervalMs` tests
 * the store until it answers and the circuit closes.
 * While checks cannot reach the store they follow the failure mode:
 *
 * - `open`: allowed, answered as if the key's window were empty (`current_count` = cost,
 *   `remaining` = limit − cost), nothing counted, marked `degraded: "open"`;
 * - `closed`: a {@linkcode StoreUnavailableError} (503);
 * - `local`: decided by an in-process {@linkcode MemoryStore} on the same algorithm with the limit
 *   cut to `ceil(limit / liveNodes())` (an explicit `burst` or `refillRate` likewise), marked
 *   `degraded: "local"`.
 *
 * Management calls (`reset`, `listCounters`, `countCounters`) throw a
 * {@linkcode StoreUnavailableError} when the store cannot answer. A call that timed out may still
 * reach Redis later (a paused Redis runs its backlog when it resumes): a check answered by the
 * failure mode can thus be counted afterwards. The store never over-allows because of that.
 */
export class ResilientStore implements Store {
  readonly #inner: Store;
  readonly #timeoutMs: number;
  readonly #listTimeoutMs: number;
  readonly #countTimeoutMs: number;
  readonly #batchChunkLimits: number;
  readonly #failureMode: FailureMode;
  readonly #liveNodes: () => number;
  readonly #maxInFlight: number;
  readonly #metrics: ResilienceMetrics | undefined;
  readonly #logger: Logger | undefined;
  readonly #clock: WallClock;
  readonly #breaker: CircuitBreaker;
  readonly #local: MemoryStore | undefined;
  /** Every call's deadline, on one shared coarse timer rather than a timer per call. */
  readonly #deadlines = new Deadlines();
  #inFlight = 0;
  #probeTimer: ReturnType<typeof setTimeout> | undefined;
  #probePending = false;
  #closed = false;

  constructor(options: ResilientStoreOptions) {
    this.#inner = options.inner;
    this.#timeoutMs = options.timeoutMs ?? 100;
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) {
      throw new RangeError(`Cannot use timeoutMs ${this.#timeoutMs}: expected a number > 0`);
    }
    this.#listTimeoutMs = options.listTimeoutMs ?? Math.max(1000, this.#timeoutMs);
    this.#countTimeoutMs = options.countTimeoutMs ?? Math.max(10_000, this.#timeoutMs);
    this.#batchChunkLimits = options.batchChunkLimits ?? BATCH_CHUNK_LIMITS;
    if (!Number.isSafeInteger(this.#batchChunkLimits) || this.#batchChunkLimits < 1) {
      throw new RangeError(
        `Cannot use batchChunkLimits ${this.#batchChunkLimits}: expected an integer ≥ 1`,
      );
    }
    this.#failureMode = options.failureMode ?? "open";
    this.#liveNodes = options.liveNodes ?? (() => 1);
    this.#maxInFlight = options.maxInFlight ?? 10_000;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#clock = options.clock ?? Date.now;
    this.#breaker = new CircuitBreaker({
      failureThreshold: options.failureThreshold ?? 3,
      probeIntervalMs: options.probeIntervalMs ?? 500,
      clock: this.#clock,
      onTransition: (t) => this.#onTransition(t),
    });
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

  /** The circuit breaker's state. */
  get circuitState(): CircuitState {
    return this.#breaker.state;
  }

  /** Calls waiting for the inner store, timed-out ones included. */
  get inFlight(): number {
    return this.#inFlight;
  }

  async check(requests: LimitRequest[]): Promise<CheckOutcome> {
    try {
      return await this.#call("check", () => this.#inner.check(requests), this.#timeoutMs, true);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      return (await this.#degrade([requests], error))[0]!;
    }
  }

  /**
   * Decides a batch as chunks of at most `batchChunkLimits` limits, sent one after the other, each
   * with the deadline of a single check from the moment it is sent, and answered in order: a
   * batch's time fits its size, so it never degrades merely because it is large. A batch counts
   * as one call for the breaker: the first chunk that fails records one failure and the rest of
   * the batch (that chunk and the ones after it) is answered by the failure mode without calling
   * the store.
   */
  async checkMany(groups: LimitRequest[][]): Promise<CheckOutcome[]> {
    const outcomes: CheckOutcome[] = [];
    for (const chunk of chunkGroups(groups, this.#batchChunkLimits)) {
      try {
        outcomes.push(
          ...await this.#call(
            "checkMany",
            () => this.#inner.checkMany(chunk),
            this.#timeoutMs,
            true,
          ),
        );
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error;
        outcomes.push(...await this.#degrade(groups.slice(outcomes.length), error));
        break;
      }
    }
    return outcomes;
  }

  reset(key: string): Promise<boolean> {
    return this.#call("reset", () => this.#inner.reset(key), this.#timeoutMs, true);
  }

  listCounters(options: ListCountersOptions): Promise<CounterPage> {
    // A page is bounded work but slower than a check; its timeouts say little about an outage.
    return this.#call(
      "listCounters",
      () => this.#inner.listCounters(options),
      this.#listTimeoutMs,
      false,
    );
  }

  countCounters(): Promise<number> {
    return this.#call(
      "countCounters",
      () => this.#inner.countCounters(),
      this.#countTimeoutMs,
      false,
    );
  }

  /** Resolves when the store answers within the deadline; rejects at once while the circuit is open. */
  ping(): Promise<void> {
    return this.#call("ping", () => this.#inner.ping(), this.#timeoutMs, true);
  }

  status(): StoreStatus {
    return this.#breaker.state === "closed" ? this.#inner.status() : "down";
  }

  /** Stops probing and the local limiter, then closes the inner store. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
    this.#deadlines.stop();
    await this.#local?.close();
    await this.#inner.close();
  }

  async #call<T>(
    op: string,
    run: () => Promise<T>,
    timeoutMs: number,
    feedsBreaker: boolean,
  ): Promise<T> {
    if (!this.#breaker.allowsCalls()) {
      throw this.#failure(
        "circuit_open",
        `Store calls are suspended after repeated failures (circuit ${this.#breaker.state})`,
      );
    }
    if (this.#inFlight >= this.#maxInFlight) {
      throw this.#failure(
        "overload",
        `${this.#inFlight} store calls are still waiting for an answer`,
      );
    }
    this.#inFlight++;
    const promise = start(run);
    promise.then(this.#settle, this.#settle);
    let result: T | typeof TIMED_OUT;
    try {
      result = await this.#deadlines.race(promise, timeoutMs);
    } catch (error) {
      // Anything else is a bug or a bad argument (e.g. a malformed cursor), not an outage.
      if (!(error instanceof StoreUnavailableError)) throw error;
      const kind = classify(error);
      if (feedsBreaker) this.#breaker.recordFailure(`${kind}: ${error.message}`);
      throw this.#failure(kind, error.message, error);
    }
    if (result === TIMED_OUT) {
      const message = `Store did not answer ${op} within ${timeoutMs} ms`;
      if (feedsBreaker) this.#breaker.recordFailure(`timeout: ${message}`);
      throw this.#failure("timeout", message);
    }
    if (feedsBreaker) this.#breaker.recordSuccess();
    return result;
  }

  /** A call the store answered (in time or late) no longer waits for it. */
  readonly #settle = (): void => {
    this.#inFlight--;
  };

  #failure(kind: StoreFailureKind, message: string, cause?: unknown): StoreUnavailableError {
    this.#metrics?.storeErrors.inc({ kind });
    return new StoreUnavailableError(message, { kind, cause });
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

  #onTransition(t: CircuitTransition): void {
    this.#metrics?.circuitState.set(CIRCUIT_STATE_GAUGE[t.to]);
    this.#metrics?.storeUp.set(t.to === "closed" ? 1 : 0);
    if (t.to === "open" && t.from === "closed") {
      this.#logger?.warn("circuit_open", {
        reason: t.reason,
        failure_mode: this.#failureMode,
        timeout_ms: this.#timeoutMs,
      });
    } else if (t.to === "closed") {
      this.#logger?.info("circuit_closed", {
        reason: t.reason,
        down_ms: Math.round(t.downMs ?? 0),
      });
    } else {
      // Half-open and failed probes repeat every interval during an outage: debug only.
      this.#logger?.debug(`circuit_${t.to}`, { reason: t.reason });
    }
    if (t.to === "open") this.#scheduleProbe();
  }

  #scheduleProbe(): void {
    if (this.#closed) return;
    clearTimeout(this.#probeTimer);
    this.#probeTimer = setTimeout(() => this.#probe(), Math.max(1, this.#breaker.msUntilProbe()));
    Deno.unrefTimer(this.#probeTimer);
  }

  async #probe(): Promise<void> {
    this.#probeTimer = undefined;
    if (this.#closed) return;
    if (!this.#breaker.tryStartProbe()) {
      if (this.#breaker.state === "open") this.#scheduleProbe();
      return;
    }
    // One probe in flight at most: a PING still unanswered (a paused Redis) is not sent again.
    if (this.#probePending) {
      this.#breaker.probeFailed("the previous probe is still waiting for an answer");
      return;
    }
    this.#probePending = true;
    const promise = start(() => this.#inner.ping());
    const settle = () => {
      this.#probePending = false;
    };
    promise.then(settle, settle);
    try {
      const result = await this.#deadlines.race(promise, this.#timeoutMs);
      if (this.#closed) return;
      if (result === TIMED_OUT) {
        this.#breaker.probeFailed(`no answer within ${this.#timeoutMs} ms`);
      } else {
        this.#breaker.probeSucceeded();
      }
    } catch (error) {
      if (!this.#closed) this.#breaker.probeFailed(messageOf(error));
    }
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
