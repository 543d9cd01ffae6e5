/**
 * This node's recent check figures (allowed and blocked per second, p99 latency) for
 * `GET /api/cluster`, derived from the counters the hot path already keeps.
 *
 * Why sampling: `/check` already adds to `ratelimiter_requests_checked_total` and
 * `ratelimiter_check_duration_seconds`; reading their totals once a second into a small ring and
 * taking differences costs the hot path nothing at all.
 *
 * @module
 */
import type { MonotonicClock } from "../clock.ts";

/** Cumulative check totals at one moment, as the metrics hold them. */
export interface CheckTotals {
  allowed: number;
  blocked: number;
  /** Observations per latency bucket (not cumulative; the last is above every bound). */
  latency: readonly number[];
}

/** The recent figures of one node. */
export interface RecentFigures {
  allowedPerSecond: number;
  blockedPerSecond: number;
  /** p99 check latency in milliseconds; `null` when no check was timed in the window. */
  p99CheckMs: number | null;
}

/** Options for {@linkcode RecentChecks}. */
export interface RecentChecksOptions {
  /** Reads the current totals (cheap: a few numbers and one small array copy). */
  read: () => CheckTotals;
  /** Upper bounds of the latency buckets, in seconds, ascending (`+Inf` implied). */
  buckets: readonly number[];
  /** Length of the window the figures cover, in ms (whole seconds). @default {5000} */
  windowMs?: number;
  /** Time source, in ms. @default {performance.now} */
  clock?: MonotonicClock;
}

interface Reading extends CheckTotals {
  at: number;
}

/**
 * A ring of one reading of the totals per {@linkcode RecentChecks.sample} (called once a second),
 * holding the last `windowMs / 1000 + 1` readings. {@linkcode RecentChecks.figures} compares a
 * fresh reading with the oldest one in the ring: rates per second and the p99 over the last few
 * seconds. Memory is fixed whatever the traffic.
 */
export class RecentChecks {
  readonly #read: () => CheckTotals;
  readonly #buckets: readonly number[];
  readonly #clock: MonotonicClock;
  readonly #ring: (Reading | undefined)[];
  #next = 0;

  constructor(options: RecentChecksOptions) {
    const windowMs = options.windowMs ?? 5000;
    if (!(Number.isInteger(windowMs / 1000) && windowMs >= 1000)) {
      throw new RangeError(
        `Cannot use a window of ${windowMs} ms: expected a whole number of seconds, at least 1`,
      );
    }
    this.#read = options.read;
    this.#buckets = options.buckets;
    this.#clock = options.clock ?? (() => performance.now());
    this.#ring = new Array<Reading | undefined>(windowMs / 1000 + 1).fill(undefined);
  }

  #reading(): Reading {
    const totals = this.#read();
    return { ...totals, latency: [...totals.latency], at: this.#clock() };
  }

  /** Records the current totals, dropping the oldest reading once the ring is full. */
  sample(): void {
    this.#ring[this.#next] = this.#reading();
    this.#next = (this.#next + 1) % this.#ring.length;
  }

  /** The figures from the oldest reading in the ring to now; zeros before the first sample. */
  figures(): RecentFigures {
    // The slot written next holds the oldest reading once the ring is full.
    let oldest: Reading | undefined;
    for (let i = 0; i < this.#ring.length && oldest === undefined; i++) {
      oldest = this.#ring[(this.#next + i) % this.#ring.length];
    }
    const now = this.#reading();
    const seconds = oldest === undefined ? 0 : (now.at - oldest.at) / 1000;
    if (oldest === undefined || !(seconds > 0)) {
      return { allowedPerSecond: 0, blockedPerSecond: 0, p99CheckMs: null };
    }
    const latency = now.latency.map((n, i) => n - (oldest.latency[i] ?? 0));
    const p99 = bucketQuantile(0.99, this.#buckets, latency);
    return {
      allowedPerSecond: round((now.allowed - oldest.allowed) / seconds, 2),
      blockedPerSecond: round((now.blocked - oldest.blocked) / seconds, 2),
      p99CheckMs: p99 === undefined ? null : round(p99 * 1000, 3),
    };
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * The `q` quantile (0 < q ≤ 1) of observations counted per bucket, as Prometheus's
 * `histogram_quantile` estimates it: linear within the bucket it falls in (the first bucket
 * starts at 0); in the bucket above every bound, the highest bound. `undefined` when `counts`
 * holds no observation. `counts` are per bucket (not cumulative), one more than `bounds`.
 */
export function bucketQuantile(
  q: number,
  bounds: readonly number[],
  counts: readonly number[],
): number | undefined {
  let total = 0;
  for (const n of counts) total += n;
  if (!(total > 0)) return undefined;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (n > 0 && below + n >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? 0;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const upper = bounds[i]!;
      return lower + (upper - lower) * ((rank - below) / n);
    }
    below += n;
  }
  return bounds[bounds.length - 1] ?? 0;
}
