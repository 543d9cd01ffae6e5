/**
 * Key distributions of the load generator: one key, `N` keys drawn uniformly, or `N` keys drawn
 * by a Zipf law (rank `k` with probability proportional to `1 / k^s`, a few hot keys and a long
 * tail, as real traffic tends to be).
 *
 * @module
 */

/** How keys are drawn. */
export type KeyDistribution =
  | { kind: "single" }
  | { kind: "uniform"; keys: number }
  | { kind: "zipf"; keys: number; exponent: number };

/** Most keys a distribution may have (the Zipf table costs 8 bytes per key). */
export const MAX_KEYS = 10_000_000;

/** Parses `single`, `uniform:N` or `zipf:N:s`; throws a `RangeError` naming what was wrong. */
export function parseKeyDistribution(spec: string): KeyDistribution {
  const parts = spec.trim().split(":");
  const count = (raw: string | undefined) => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 1 || n > MAX_KEYS) {
      throw new RangeError(
        `Cannot parse --keys "${spec}": expected a key count from 1 to ${MAX_KEYS}, received "${raw}"`,
      );
    }
    return n;
  };
  if (parts[0] === "single" && parts.length === 1) return { kind: "single" };
  if (parts[0] === "uniform" && parts.length === 2) {
    return { kind: "uniform", keys: count(parts[1]) };
  }
  if (parts[0] === "zipf" && parts.length === 3) {
    const exponent = Number(parts[2]);
    if (!Number.isFinite(exponent) || exponent <= 0 || exponent > 10) {
      throw new RangeError(
        `Cannot parse --keys "${spec}": expected a Zipf exponent above 0 and at most 10, received "${
          parts[2]
        }"`,
      );
    }
    return { kind: "zipf", keys: count(parts[1]), exponent };
  }
  throw new RangeError(
    `Cannot parse --keys "${spec}": expected single, uniform:N or zipf:N:s (e.g. zipf:10000:1.1)`,
  );
}

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/** A small seeded generator (mulberry32), for reproducible runs and tests. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Returns a function drawing key indexes in `[0, keys)` under `distribution`; index 0 is the
 * hottest key of a Zipf law. The Zipf sampler precomputes the cumulative weights once and draws by
 * binary search, O(log N) per key.
 */
export function createKeySampler(distribution: KeyDistribution, random: Random): () => number {
  switch (distribution.kind) {
    case "single":
      return () => 0;
    case "uniform": {
      const n = distribution.keys;
      return () => Math.floor(random() * n);
    }
    case "zipf": {
      const cdf = zipfCdf(distribution.keys, distribution.exponent);
      return () => {
        const u = random() * cdf[cdf.length - 1]!;
        let lo = 0;
        let hi = cdf.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (cdf[mid]! > u) hi = mid;
          else lo = mid + 1;
        }
        return lo;
      };
    }
  }
}

/** Cumulative (unnormalised) weights of ranks 1..n under exponent s. */
export function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k++) {
    total += 1 / k ** s;
    cdf[k - 1] = total;
  }
  return cdf;
}
