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
 * A tick running at least this late (ms) means this process was stalled (GC, CPU starvation),
 * not necessarily the store.
 */
const STALL_MS = 1;
/**
 * After such a stall, the least time a call caught in it gets to be answered (ms). A longer stall
 * gets as long as it lasted, up to the call's own deadline: work the stall held up (writing the
 * command, reading a reply that came in meanwhile) runs only after it.
 */
const STALL_GRACE_MS = 10;

interface Pending {
  /** `performance.now()` time at which the call times out. */
  at: number;
  /** Whether this call already got the stall grace (it gets it once). */
  graced: boolean;
  /** Key of the queue it sits in: its duration, or its grace after a stall. */
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
 * When a tick itself runs late, replies that came in during the stall may still be unread behind
 * it: without a short grace, one stall of this process past the deadline would turn every call in
 * flight into a "store timeout" and open the breaker on a healthy store. So the calls due at such
 * a tick get {@linkcode STALL_GRACE_MS} more, once.
 */
export class Deadlines {
  readonly #granularityMs: number;
  /** Pending calls by duration, each in start (= deadline) order. */
  readonly #queues = new Map<number, Set<Pending>>();
  #pending = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastTick = 0;

  constructor(options: DeadlinesOptions = {}) {
    this.#granularityMs = options.granularityMs ?? DEADLINE_GRANULARITY_MS;
  }

  /** Calls waiting for their promise or their deadline. */
  get pending(): number {
    return this.#pending;
  }

  /** Resolves to `promise`'s outcome, or to {@linkcode TIMED_OUT} about `ms` from now. */
  race<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
    return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
      const entry: Pending = {
        at: performance.now() + ms,
        graced: false,
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

  #tick = (): void => {
    const now = performance.now();
    const late = now - this.#lastTick - this.#granularityMs;
    const stalled = late >= STALL_MS;
    this.#lastTick = now;
    // Calls moved to a grace queue during this tick are not looked at again in it.
    for (const [ms, queue] of [...this.#queues]) {
      for (const entry of queue) {
        if (entry.at > now) break;
        queue.delete(entry);
        if (stalled && !entry.graced) {
          entry.graced = true;
          const grace = Math.round(Math.min(ms, Math.max(STALL_GRACE_MS, late)));
          entry.at = now + grace;
          entry.queue = grace;
          this.#add(grace, entry);
          this.#pending--; // #add counted it again
        } else {
          this.#pending--;
          entry.timeOut();
        }
      }
    }
    if (this.#pending === 0) this.#stopTimer();
  };

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
