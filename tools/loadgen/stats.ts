/**
 * Latency statistics of the load generator: every sample is kept (8 bytes each) up to a cap, then
 * a uniform reservoir sample of that size, so percentiles stay exact for ordinary runs and memory
 * stays bounded for endless ones.
 *
 * @module
 */
import type { Random } from "./keys.ts";

/** Percentiles of a set of samples, in the samples' unit. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile `p` (0–100] of ascending `sorted`; 0 for no samples. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Collects latency samples with bounded memory. */
export class LatencyRecorder {
  #samples: Float64Array;
  #size = 0;
  #seen = 0;
  #max = 0;
  #sum = 0;
  readonly #cap: number;
  readonly #random: Random;

  /** `cap`: most samples kept (then a reservoir sample). @default {5000000} */
  constructor(cap = 5_000_000, random: Random = Math.random) {
    if (!Number.isSafeInteger(cap) || cap < 1) {
      throw new RangeError(`Cannot use cap: expected a positive integer, received ${cap}`);
    }
    this.#cap = cap;
    this.#random = random;
    this.#samples = new Float64Array(Math.min(cap, 1024));
  }

  /** Samples offered so far (kept or not). */
  get count(): number {
    return this.#seen;
  }

  record(value: number): void {
    this.#seen++;
    this.#sum += value;
    if (value > this.#max) this.#max = value;
    if (this.#size < this.#cap) {
      if (this.#size === this.#samples.length) {
        const grown = new Float64Array(Math.min(this.#cap, this.#samples.length * 2));
        grown.set(this.#samples);
        this.#samples = grown;
      }
      this.#samples[this.#size++] = value;
      return;
    }
    // Algorithm R: the k-th sample replaces a kept one with probability cap / k.
    const slot = Math.floor(this.#random() * this.#seen);
    if (slot < this.#cap) this.#samples[slot] = value;
  }

  summary(): LatencySummary {
    const sorted = this.#samples.slice(0, this.#size).sort();
    return {
      count: this.#seen,
      mean: this.#seen === 0 ? 0 : this.#sum / this.#seen,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: this.#max,
    };
  }
}
