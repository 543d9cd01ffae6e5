import type { WallClock } from "../clock.ts";

/** States of a {@linkcode CircuitBreaker}. */
export const CIRCUIT_STATES = ["closed", "half_open", "open"] as const;
/** One of {@linkcode CIRCUIT_STATES}. */
export type CircuitState = typeof CIRCUIT_STATES[number];

/** Value of each state in the `ratelimiter_circuit_state` gauge: 0 closed, 1 half-open, 2 open. */
export const CIRCUIT_STATE_GAUGE: Record<CircuitState, number> = {
  closed: 0,
  half_open: 1,
  open: 2,
};

/** A change of state, reported once when it happens. */
export interface CircuitTransition {
  from: CircuitState;
  to: CircuitState;
  /** Why: the last failure's message, or "probe succeeded". */
  reason: string;
  /** Clock time of the change, in ms. */
  atMs: number;
  /** On closing: how long calls were refused, in ms. */
  downMs?: number;
}

/** Options for {@linkcode CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failed calls that open the circuit. @default {3} */
  failureThreshold?: number;
  /** Time between probes while open, in ms. @default {500} */
  probeIntervalMs?: number;
  /** Time source, in ms. @default {Date.now} */
  clock?: WallClock;
  /** Called on every change of state. @default {none} */
  onTransition?: (transition: CircuitTransition) => void;
}

/**
 * A circuit breaker with a clock passed in and no timers of its own: the caller asks whether a
 * call may go ahead, reports outcomes, and runs the probes it is told to.
 *
 * Closed: calls go ahead; `failureThreshold` consecutive failures open it. Open: calls are refused
 * at once; once `probeIntervalMs` has passed, {@linkcode CircuitBreaker.tryStartProbe} grants one
 * probe and moves to half-open. Half-open: calls are still refused; the probe's success closes the
 * circuit, its failure opens it for another interval. Outcomes of ordinary calls that finish while
 * not closed (late replies of calls started before it opened) change nothing: only a probe closes
 * the circuit, so one stray reply cannot let a flood through to a store that is still down.
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #probeIntervalMs: number;
  readonly #clock: WallClock;
  readonly #onTransition: ((transition: CircuitTransition) => void) | undefined;
  #state: CircuitState = "closed";
  #failures = 0;
  #openedAt = 0;
  #nextProbeAt = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    const threshold = options.failureThreshold ?? 3;
    const interval = options.probeIntervalMs ?? 500;
    if (!Number.isSafeInteger(threshold) || threshold < 1) {
      throw new RangeError(`Cannot use failureThreshold ${threshold}: expected an integer ≥ 1`);
    }
    if (!Number.isFinite(interval) || interval < 0) {
      throw new RangeError(`Cannot use probeIntervalMs ${interval}: expected a number ≥ 0`);
    }
    this.#threshold = threshold;
    this.#probeIntervalMs = interval;
    this.#clock = options.clock ?? Date.now;
    this.#onTransition = options.onTransition;
  }

  /** The current state. */
  get state(): CircuitState {
    return this.#state;
  }

  /** Consecutive failures counted while closed. */
  get failures(): number {
    return this.#failures;
  }

  /** Whether an ordinary call may go ahead: only while closed. */
  allowsCalls(): boolean {
    return this.#state === "closed";
  }

  /** Milliseconds until a probe is due; 0 when due now, `Infinity` unless open. */
  msUntilProbe(): number {
    if (this.#state !== "open") return Infinity;
    return Math.max(0, this.#nextProbeAt - this.#clock());
  }

  /** Reports a call that succeeded: resets the failure count while closed. */
  recordSuccess(): void {
    if (this.#state === "closed") this.#failures = 0;
  }

  /** Reports a call that failed; opens the circuit at the threshold. Ignored unless closed. */
  recordFailure(reason: string): void {
    if (this.#state !== "closed") return;
    this.#failures++;
    if (this.#failures >= this.#threshold) {
      const now = this.#clock();
      this.#openedAt = now;
      this.#open(now, `${this.#failures} consecutive failures, last: ${reason}`);
    }
  }

  /**
   * Grants a probe when open and the interval has passed: moves to half-open and returns true.
   * Returns false otherwise (including while another probe runs).
   */
  tryStartProbe(): boolean {
    if (this.#state !== "open") return false;
    const now = this.#clock();
    if (now < this.#nextProbeAt) return false;
    this.#move("half_open", "probe due", now);
    return true;
  }

  /** Reports the probe's success: closes the circuit. */
  probeSucceeded(): void {
    if (this.#state !== "half_open") return;
    const now = this.#clock();
    this.#failures = 0;
    this.#move("closed", "probe succeeded", now, now - this.#openedAt);
  }

  /** Reports the probe's failure: open again for another interval. */
  probeFailed(reason: string): void {
    if (this.#state !== "half_open") return;
    this.#open(this.#clock(), `probe failed: ${reason}`);
  }

  #open(now: number, reason: string): void {
    this.#nextProbeAt = now + this.#probeIntervalMs;
    this.#move("open", reason, now);
  }

  #move(to: CircuitState, reason: string, now: number, downMs?: number): void {
    const from = this.#state;
    this.#state = to;
    const transition: CircuitTransition = { from, to, reason, atMs: now };
    if (downMs !== undefined) transition.downMs = downMs;
    this.#onTransition?.(transition);
  }
}
