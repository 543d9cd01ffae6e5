/**
 * Coalescing of store calls: items that arrive in the same event-loop turn leave as one call per
 * lane instead of one call each. While calls are in flight a turn lasts until the loop next runs
 * its `setImmediate` callbacks; when none is, until the current microtasks have run, so a lone
 * item is not held back. The Redis store uses it to send the checks of one turn to Redis
 * as one batch script run (see `RedisStore`), which costs Redis far less per check than one
 * EVALSHA each.
 *
 * @module
 */

/** What {@linkcode Coalescer} needs to know of its items and how to send them. */
export interface CoalescerOptions<I, O> {
  /**
   * Sends one call carrying `items` (at least one, in arrival order, all of one lane) and
   * resolves to one result per item, in the same order: a value, or an `Error` for an item that
   * failed on its own. A rejection fails every item of the call with that error.
   */
  send(items: I[]): Promise<(O | Error)[]>;
  /**
   * The lane of an item: items of different lanes never share a call, and their calls may run in
   * any order relative to each other (keys that must go to different Redis nodes, so never the
   * same key).
   * @default {one lane for all}
   */
  lane?: (item: I) => string;
  /**
   * The kind of an item: items of one lane and different kinds go in different calls, the lane
   * split where the kind changes, so the lane's order is kept (a read-only check between two
   * writing ones makes three calls).
   * @default {one kind for all}
   */
  kind?: (item: I) => string;
  /** Weight of an item against `maxWeight` (e.g. its number of limits). @default {1} */
  weight?: (item: I) => number;
  /**
   * Most total weight one call carries; a turn with more sends several calls, in order. An item
   * heavier than this goes alone. @default {100}
   */
  maxWeight?: number;
  /**
   * Runs the flush of a turn's items while calls are in flight (the store is busy). The default,
   * `setImmediate`, runs once the event loop has handled the I/O that was ready (every request
   * whose body arrived together), before it waits for more, with no timer. node-redis itself
   * writes on `setImmediate`, so this is about the window within which it would have pipelined
   * the commands anyway. A microtask merges far less: under `wrk -c64` 0.93 script calls per
   * check against 0.04 (`bench/RESULTS.md`).
   * @default {setImmediate}
   */
  schedule?: (flush: () => void) => void;
  /**
   * Runs the flush when no call is in flight: then there is little to merge and nothing to wait
   * for, so the default, a microtask, sends a lone item as soon as it would have left without
   * coalescing.
   * @default {queueMicrotask}
   */
  scheduleIdle?: (flush: () => void) => void;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/** Default most total weight of one call. */
export const COALESCE_MAX_WEIGHT = 100;

/**
 * Gathers items added in one turn and sends them as one call per lane (several when a lane's
 * weight passes `maxWeight`), in the order they were added; each caller gets its own result or
 * its own error. Calls of one flush are started in order, so a transport that keeps order (one
 * Redis connection) runs them in order.
 */
export class Coalescer<I, O> {
  readonly #send: (items: I[]) => Promise<(O | Error)[]>;
  readonly #lane: (item: I) => string;
  readonly #kind: (item: I) => string;
  readonly #weight: (item: I) => number;
  readonly #maxWeight: number;
  readonly #schedule: (flush: () => void) => void;
  readonly #scheduleIdle: (flush: () => void) => void;
  /** Calls sent and not settled yet. */
  #inFlight = 0;
  #waiting: Waiting<I, O>[] = [];
  /** Calls started, and items they carried, since construction (for tests and benchmarks). */
  #calls = 0;
  #items = 0;

  constructor(options: CoalescerOptions<I, O>) {
    this.#send = options.send;
    this.#lane = options.lane ?? (() => "");
    this.#kind = options.kind ?? (() => "");
    this.#weight = options.weight ?? (() => 1);
    this.#maxWeight = options.maxWeight ?? COALESCE_MAX_WEIGHT;
    if (!(this.#maxWeight >= 1)) {
      throw new RangeError(`Cannot use maxWeight ${this.#maxWeight}: expected a number >= 1`);
    }
    this.#schedule = options.schedule ?? ((flush) => setImmediate(flush));
    this.#scheduleIdle = options.scheduleIdle ?? queueMicrotask;
  }

  /** Calls started so far and the items they carried: items ÷ calls is the merging achieved. */
  get stats(): { calls: number; items: number } {
    return { calls: this.#calls, items: this.#items };
  }

  /** Queues `item` for this turn's call of its lane; resolves to its own result. */
  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      if (this.#waiting.length === 0) {
        (this.#inFlight === 0 ? this.#scheduleIdle : this.#schedule)(this.#flush);
      }
      this.#waiting.push({ item, resolve, reject });
    });
  }

  #flush = (): void => {
    const waiting = this.#waiting;
    this.#waiting = [];
    const lanes = new Map<string, { calls: Waiting<I, O>[][]; weight: number; kind: string }>();
    for (const w of waiting) {
      const lane = this.#lane(w.item);
      const kind = this.#kind(w.item);
      const weight = this.#weight(w.item);
      let l = lanes.get(lane);
      if (l === undefined) {
        l = { calls: [[]], weight: 0, kind };
        lanes.set(lane, l);
      } else if (kind !== l.kind || l.weight + weight > this.#maxWeight) {
        l.calls.push([]);
        l.weight = 0;
        l.kind = kind;
      }
      l.calls.at(-1)!.push(w);
      l.weight += weight;
    }
    for (const l of lanes.values()) {
      for (const call of l.calls) this.#start(call);
    }
  };

  #start(call: Waiting<I, O>[]): void {
    this.#calls++;
    this.#items += call.length;
    this.#inFlight++;
    let sent: Promise<(O | Error)[]>;
    try {
      sent = this.#send(call.map((w) => w.item));
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      (results) => {
        this.#inFlight--;
        call.forEach((w, i) => {
          const result = results[i];
          if (result instanceof Error) w.reject(result);
          else if (i >= results.length) {
            w.reject(
              new Error(`Coalesced call answered ${results.length} of ${call.length} items`),
            );
          } else w.resolve(result as O);
        });
      },
      (error) => {
        this.#inFlight--;
        for (const w of call) w.reject(error);
      },
    );
  }
}
