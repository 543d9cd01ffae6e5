/**
 * The background count behind `ratelimiter_active_counters`. This is the port with the counting
 * loop both twins share; each twin says how one tick counts: `memory_active_counters.ts` asks the
 * embedded store, `redis_active_counters.ts` lets one node at a time scan Redis in bounded steps
 * under a lock and publish the total for every node.
 *
 * @module
 */
import { type Logger, silentLogger } from "../log.ts";
import { Periodic } from "./periodic.ts";

/** Options both twins take. */
export interface ActiveCountersOptions {
  /** Receives each new count (sets the gauge). */
  set: (count: number) => void;
  /** Milliseconds between ticks. @default {set by each twin} */
  intervalMs?: number;
  /** Logger for failures (debug level: the gauge just keeps its last value). @default {silentLogger} */
  logger?: Logger;
}

/** The counting loop: a first tick at once, then one every interval; ticks never overlap. */
export abstract class ActiveCounters {
  /** Milliseconds between the end of a tick and the start of the next. */
  protected readonly intervalMs: number;
  readonly #set: (count: number) => void;
  readonly #logger: Logger;
  readonly #loop: Periodic;

  /** `defaultIntervalMs` applies when `options.intervalMs` is unset. */
  constructor(options: ActiveCountersOptions, defaultIntervalMs: number) {
    this.#set = options.set;
    this.intervalMs = options.intervalMs ?? defaultIntervalMs;
    this.#logger = options.logger ?? silentLogger;
    this.#loop = new Periodic(this.intervalMs, () => this.tick());
  }

  /** One step of counting: the count to show, or `undefined` to keep the last one. */
  protected abstract count(): Promise<number | undefined>;

  /** Runs a first tick now, then one every interval after the previous one finished. */
  start(): void {
    this.#loop.start();
  }

  /** Stops ticking and waits for a running tick. */
  stop(): Promise<void> {
    return this.#loop.stop();
  }

  /** One step of counting; never throws. */
  async tick(): Promise<void> {
    try {
      const count = await this.count();
      if (count !== undefined) this.#set(count);
    } catch (error) {
      this.#logger.debug("active_counters_failed", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}
