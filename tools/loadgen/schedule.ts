/**
 * Load shapes. A pattern is a factor over time applied to the base rate (open loop) or to the
 * number of busy workers (closed loop): `steady` is 1; `burst` is `multiplier` for `durationMs`
 * at the start of every `intervalMs` after the first; `ramp` rises linearly from `from` to 1 over
 * `durationMs`, then holds.
 *
 * @module
 */

/** A load shape. */
export type Pattern =
  | { kind: "steady" }
  | { kind: "burst"; multiplier: number; durationMs: number; intervalMs: number }
  | { kind: "ramp"; from: number; durationMs: number };

/** The factor at `tMs` after the start. */
export function factorAt(pattern: Pattern, tMs: number): number {
  switch (pattern.kind) {
    case "steady":
      return 1;
    case "burst": {
      if (tMs < pattern.intervalMs) return 1;
      return tMs % pattern.intervalMs < pattern.durationMs ? pattern.multiplier : 1;
    }
    case "ramp":
      return pattern.from + (1 - pattern.from) * Math.min(1, tMs / pattern.durationMs);
  }
}

/** The largest factor the pattern reaches. */
export function maxFactor(pattern: Pattern): number {
  return pattern.kind === "burst" ? Math.max(1, pattern.multiplier) : 1;
}

/** `∫₀ᵗ factor(u) du`, in milliseconds. */
export function integralFactor(pattern: Pattern, tMs: number): number {
  if (tMs <= 0) return 0;
  switch (pattern.kind) {
    case "steady":
      return tMs;
    case "burst": {
      const { intervalMs: i, durationMs: b, multiplier: m } = pattern;
      const n = Math.floor(tMs / i);
      const inBursts = n >= 1 ? (n - 1) * b + Math.min(b, tMs - n * i) : 0;
      return tMs + (m - 1) * inBursts;
    }
    case "ramp": {
      const { from: f, durationMs: d } = pattern;
      if (tMs <= d) return f * tMs + ((1 - f) * tMs * tMs) / (2 * d);
      return f * d + ((1 - f) * d) / 2 + (tMs - d);
    }
  }
}

/** Requests an open loop at `ratePerSecond` shaped by `pattern` should have sent by `tMs`. */
export function dueRequests(pattern: Pattern, ratePerSecond: number, tMs: number): number {
  return Math.floor((ratePerSecond * integralFactor(pattern, tMs)) / 1000 + 1e-9);
}

/** Workers a closed loop of `concurrency` keeps busy at `tMs` (at least 1). */
export function activeWorkers(pattern: Pattern, concurrency: number, tMs: number): number {
  return Math.max(1, Math.round(concurrency * factorAt(pattern, tMs)));
}

/** Parses a duration: `250ms`, `10s`, `2m`, `1h`, or a plain number of seconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) {
    throw new RangeError(
      `Cannot parse ${what} "${text}": expected a duration like 500ms, 10s, 2m or 1h`,
    );
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"]!;
  const ms = Number(match[1]) * unit;
  if (ms <= 0) throw new RangeError(`Cannot use ${what} "${text}": expected more than 0`);
  return ms;
}
