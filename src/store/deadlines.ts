/**
 * Deadlines for many concurrent store calls on one coarse timer.
 *
 * Why not a `setTimeout` per call: once npm packages are loaded, Deno 2.9's global timers are the
 * Node-compatible ones, and `setTimeout` + `clearTimeout` cost 4–8 µs, more than the rest of the
 * store decorators together and a sizeable share of a whole `/check` on the embedded store. Here
 * a call costs a `Set` insertion and removal, and one interval runs while calls are pending.
 *
 * @module
 */

/** What {@linkcode Deadlines.race} resolves to when the deadline passes first. */
export const TIMED_OUT: unique symbol = Symbol("timed out");

/** Tick of the shared timer, in ms: a deadline fires up to this late (plus event-loop delay). */
export const DEADLINE_GRANULARITY_MS = 5;

/**
 * A tick running at least this late (ms) means this process was stalled (GC, CPU starvation, a
 * long synchronous task, a burst of work queued inside the node), not necessarily the store: the
 * whole lateness is left out of every pending call's time.
 */
const STALL_MS = 1;

interface Pending {
  /** Process time ({@linkcode Deadlines} `#processNow`) at which the call times out. */
  at: number;
  /** Key of the queue it sits in: its duration. */
  queue: number;
  timeOut: () => void;
}

/** Options for {@linkcode Deadlines}. */
export interface DeadlinesOptions {
  /** Tick of the shared timer, in ms. @default {DEADLINE_GRANULARITY_MS} */
  granularityMs?: number;
}

/**
 * Deadlines of pending calls, checked by one interval every `granularityMs` that runs only while
 * calls are pending (it stops at the first tick that finds none, or at {@linkcode Deadlines.stop}).
 * Calls of one duration time out in the order they started, so each duration keeps a queue in
 * start order and a tick looks only at the calls that are due.
 *
 * A deadline counts only time this process was free to run: every tick that runs late (by
 * {@linkcode STALL_MS} or more) measures how long the event loop was held up, and that time is
 * left out of every pending call's time ("process time" = wall time less those stalls). Whatever
 * held the loop up (GC, CPU starvation, a burst of slow management reads parsing big replies, a
 * queue of requests inside the node), the command could not be written nor its reply read
 * meanwhile, so it is not the store's fault: without this, one stall would turn every call in
 * flight into a "store timeout" and open the breaker on a healthy store. A store that does not
 * answer still times out: process time advances by at least `granularityMs` per tick, however
 * stalled the process is, so a call times out within `ms / granularityMs` ticks.
 */
export class Deadlines {
  readonly #granularityMs: number;
  /** Pending calls by duration, each in start (= deadline) order. */
  readonly #queues = new Map<number, Set<Pending>>();
  #pending = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastTick = 0;
  /** Total stall measured by late ticks, in ms. */
  #stalledMs = 0;
  /** Last process time handed out: it never goes backwards, so each queue stays in order. */
  #lastProcessNow = 0;

  constructor(options: DeadlinesOptions = {}) {
    this.#granularityMs = options.granularityMs ?? DEADLINE_GRANULARITY_MS;
  }

  /** Calls waiting for their promise or their deadline. */
  get pending(): number {
    return this.#pending;
  }

  /** Total time this process was measured stalled while calls were pending, in ms. */
  get stalledMs(): number {
    return this.#stalledMs;
  }

  /**
   * Resolves to `promise`'s outcome, or to {@linkcode TIMED_OUT} once `ms` of process time (wall
   * time less this process's measured stalls) have passed.
   */
  race<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
    return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
      const entry: Pending = {
        at: this.#processNow(performance.now()) + ms,
        queue: ms,
        timeOut: () => resolve(TIMED_OUT),
      };
      this.#add(ms, entry);
      promise.then(
        (value) => {
          this.#remove(entry);
          resolve(value);
        },
        (error) => {
          this.#remove(entry);
          reject(error);
        },
      );
    });
  }

  /**
   * Stops the timer if no call is pending. Pending calls keep it running until they settle or time
   * out, as their own timers would.
   */
  stop(): void {
    if (this.#pending === 0) this.#stopTimer();
  }

  #add(ms: number, entry: Pending): void {
    let queue = this.#queues.get(ms);
    if (queue === undefined) {
      queue = new Set();
      this.#queues.set(ms, queue);
    }
    queue.add(entry);
    this.#pending++;
    if (this.#timer === undefined) {
      this.#lastTick = performance.now();
      this.#timer = setInterval(this.#tick, this.#granularityMs);
    }
  }

  #remove(entry: Pending): void {
    // After a timeout the entry is gone already.
    if (this.#queues.get(entry.queue)?.delete(entry)) this.#pending--;
  }

  /** Wall time `now` less the stalls measured so far, never going backwards. */
  #processNow(now: number): number {
    const t = now - this.#stalledMs;
    if (t > this.#lastProcessNow) this.#lastProcessNow = t;
    return this.#lastProcessNow;
  }

  #tick = (): void => {
    const wall = performance.now();
    const late = wall - this.#lastTick - this.#granularityMs;
    this.#lastTick = wall;
    if (late >= STALL_MS) this.#stalledMs += late;
    const now = this.#processNow(wall);
    for (const queue of this.#queues.values()) {
      for (const entry of queue) {
        if (entry.at > now) break;
        queue.delete(entry);
        this.#pending--;
        entry.timeOut();
      }
    }
    if (this.#pending === 0) this.#stopTimer();
  };

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
