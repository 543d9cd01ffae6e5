import type { WallClock } from "../clock.ts";
import type { FailureMode } from "./failure_mode_store.ts";
import { StoreUnavailableError } from "../errors.ts";
import type { CheckOutcome, LimitRequest } from "../limiter/types.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import {
  CIRCUIT_STATE_GAUGE,
  CircuitBreaker,
  type CircuitState,
  type CircuitTransition,
} from "./circuit_breaker.ts";
import { Deadlines, TIMED_OUT } from "./deadlines.ts";
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

/** The metrics {@linkcode BreakerStore} keeps. */
export type BreakerStoreMetrics = Pick<Metrics, "storeUp" | "storeErrors" | "circuitState">;

/** Options for {@linkcode BreakerStore}. */
export interface BreakerStoreOptions {
  /** The store to protect (in production the {@linkcode RedisStore}). */
  inner: Store;
  /** Deadline of a check, a `checkMany` call, a reset or a ping, in ms. @default {100} */
  timeoutMs?: number;
  /** Consecutive failed calls that open the circuit. @default {3} */
  failureThreshold?: number;
  /** Time between probes (one PING each) while the circuit is open, in ms. @default {500} */
  probeIntervalMs?: number;
  /** Deadline of a `listCounters` page, in ms. @default {max(1000, timeoutMs)} */
  listTimeoutMs?: number;
  /** Deadline of `countCounters` (a full SCAN, background only), in ms. @default {max(10000, timeoutMs)} */
  countTimeoutMs?: number;
  /**
   * Most calls that may be waiting for the inner store at once, timed-out ones included (a paused
   * Redis answers them late). Past it calls fail at once with kind `overload`. @default {10000}
   */
  maxInFlight?: number;
  /**
   * What checks answer while this store fails them (the {@linkcode FailureModeStore} around it):
   * only named in the `circuit_open` log line. @default {none}
   */
  failureMode?: FailureMode;
  /** Where to count errors, the store's health and the circuit state. @default {none} */
  metrics?: BreakerStoreMetrics;
  /** Where circuit transitions are logged (once each). @default {none} */
  logger?: Logger;
  /** Wall-clock time source of the breaker, in ms since the epoch. @default {Date.now} */
  clock?: WallClock;
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

/** Kind of a store failure as the inner store reported it; "connection" when it did not say. */
function kindOf(error: StoreUnavailableError): StoreFailureKind {
  return (STORE_FAILURE_KINDS as readonly (string | undefined)[]).includes(error.kind)
    ? error.kind as StoreFailureKind
    : "connection";
}

/**
 * A {@linkcode Store} decorator that makes every call to its store fail fast when the store
 * cannot answer: a deadline on every call, a circuit breaker and a cap on calls in flight. Every
 * failure is a {@linkcode StoreUnavailableError} with its {@linkcode StoreFailureKind}, counted
 * once here in `ratelimiter_store_errors_total` (and marked `counted`); what a check answers then
 * is the {@linkcode FailureModeStore}'s business.
 *
 * Every call gets a deadline, checked by one shared timer every `DEADLINE_GRANULARITY_MS` (5 ms,
 * in `deadlines.ts`): a call times out up to that much after its deadline, and the deadline counts
 * only time this process was free to run. Each `check`, `checkMany`, reset and ping feeds a
 * {@linkcode CircuitBreaker}: after a few consecutive failures it opens, calls are refused at once
 * (no request waits on a dead Redis), and one PING every `probeIntervalMs` tests the store until
 * it answers and the circuit closes. `listCounters` and `countCounters` get their own, longer
 * deadlines and do not feed the breaker (their timeouts say little about an outage). A call that
 * timed out may still reach Redis later (a paused Redis runs its backlog when it resumes).
 */
export class BreakerStore implements Store {
  readonly #inner: Store;
  readonly #timeoutMs: number;
  readonly #listTimeoutMs: number;
  readonly #countTimeoutMs: number;
  readonly #maxInFlight: number;
  readonly #failureMode: FailureMode | undefined;
  readonly #metrics: BreakerStoreMetrics | undefined;
  readonly #logger: Logger | undefined;
  readonly #breaker: CircuitBreaker;
  /** Every call's deadline, on one shared coarse timer rather than a timer per call. */
  readonly #deadlines = new Deadlines();
  #inFlight = 0;
  #probeTimer: ReturnType<typeof setTimeout> | undefined;
  #probePending = false;
  #closed = false;

  constructor(options: BreakerStoreOptions) {
    this.#inner = options.inner;
    this.#timeoutMs = options.timeoutMs ?? 100;
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) {
      throw new RangeError(`Cannot use timeoutMs ${this.#timeoutMs}: expected a number > 0`);
    }
    this.#listTimeoutMs = options.listTimeoutMs ?? Math.max(1000, this.#timeoutMs);
    this.#countTimeoutMs = options.countTimeoutMs ?? Math.max(10_000, this.#timeoutMs);
    this.#maxInFlight = options.maxInFlight ?? 10_000;
    this.#failureMode = options.failureMode;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#breaker = new CircuitBreaker({
      failureThreshold: options.failureThreshold ?? 3,
      probeIntervalMs: options.probeIntervalMs ?? 500,
      clock: options.clock ?? Date.now,
      onTransition: (t) => this.#onTransition(t),
    });
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

  check(requests: LimitRequest[]): Promise<CheckOutcome> {
    return this.#call("check", () => this.#inner.check(requests), this.#timeoutMs, true);
  }

  /** One call with the deadline of a check, one outcome for the breaker, whatever its size. */
  checkMany(groups: LimitRequest[][]): Promise<CheckOutcome[]> {
    return this.#call("checkMany", () => this.#inner.checkMany(groups), this.#timeoutMs, true);
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

  /** Stops probing, then closes the inner store. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
    this.#deadlines.stop();
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
      const kind = kindOf(error);
      // One cluster master down is no reason to stop sending the others' keys to Redis.
      if (feedsBreaker && !error.partial) this.#breaker.recordFailure(`${kind}: ${error.message}`);
      throw this.#failure(kind, error.message, error, error.partial);
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

  /** Counts a failure of `kind` and returns the error saying so. */
  #failure(
    kind: StoreFailureKind,
    message: string,
    cause?: unknown,
    partial = false,
  ): StoreUnavailableError {
    this.#metrics?.storeErrors.inc({ kind });
    return new StoreUnavailableError(message, { kind, counted: true, cause, partial });
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
