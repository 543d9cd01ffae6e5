/**
 * Correctness check of a load run against one sliding-log key (`--verify`).
 *
 * The store decided each request at some instant between when the client sent it (`sent`) and
 * when the answer arrived (`done`). Under the exact sliding log with limit `L` and window `W`, a
 * request is allowed iff fewer than `L` allowed requests were decided in the `W` ms before it.
 * From the client's intervals alone, two kinds of violation are certain:
 *
 * - **Over-admission**: more than `L` allowed requests whose whole intervals fit inside some
 *   span shorter than `W` (all were decided within `W` of each other, so the last saw `L` others).
 * - **Under-admission**: a denied request for which fewer than `L` allowed requests could
 *   possibly have been decided in the window before it (`sentᵢ ≤ doneₖ` and `doneᵢ > sentₖ − W`).
 *
 * For a run shorter than the window (first send to last answer) the two rules together mean the
 * number allowed must equal `min(requests, L)` exactly. For longer runs they bound it: at most
 * `L × (⌊span / W⌋ + 1)`, and no fewer than the demand allowed. Both assume a fresh key, cost 1,
 * and every request answered (a failed request may or may not have been counted).
 *
 * @module
 */

/** One request as the client saw it, in milliseconds on one monotonic clock. */
export interface Timed {
  sent: number;
  done: number;
}

/** Input of {@linkcode verifySlidingLog}. */
export interface VerifyInput {
  limit: number;
  windowMs: number;
  allowed: Timed[];
  denied: Timed[];
  /** Requests that failed (no decision seen). */
  errors: number;
}

/** What {@linkcode verifySlidingLog} found. */
export interface VerifyResult {
  ok: boolean;
  allowed: number;
  denied: number;
  /** First send to last answer, ms. */
  spanMs: number;
  /** Exactly how many must be allowed, when the run is shorter than the window. */
  expectedAllowed: number | undefined;
  /** Most that may be allowed over the span. */
  maxAllowed: number;
  /** Largest number of allowed requests proven decided within one window. */
  maxAllowedInWindow: number;
  /** Denied requests that had fewer than `limit` possible allowed predecessors. */
  wrongDenials: number;
  problems: string[];
}

/** Checks a run's answers against the exact sliding log. */
export function verifySlidingLog(input: VerifyInput): VerifyResult {
  const { limit, windowMs, allowed, denied } = input;
  let first = Infinity;
  let last = -Infinity;
  for (const list of [allowed, denied]) {
    for (const t of list) {
      if (t.sent < first) first = t.sent;
      if (t.done > last) last = t.done;
    }
  }
  const total = allowed.length + denied.length;
  const spanMs = total === 0 ? 0 : last - first;
  const problems: string[] = [];
  if (input.errors > 0) {
    problems.push(`${input.errors} requests failed, so the count cannot be checked`);
  }
  const maxAllowedInWindow = maxProvenInWindow(allowed, windowMs);
  if (maxAllowedInWindow > limit) {
    problems.push(
      `${maxAllowedInWindow} requests were allowed within less than one window (${windowMs} ms); the limit is ${limit}`,
    );
  }
  const wrongDenials = countWrongDenials(allowed, denied, limit, windowMs);
  if (wrongDenials > 0) {
    problems.push(
      `${wrongDenials} requests were denied although fewer than ${limit} could have been allowed in the window before them`,
    );
  }
  const expectedAllowed = spanMs < windowMs ? Math.min(total, limit) : undefined;
  if (expectedAllowed !== undefined && allowed.length !== expectedAllowed) {
    problems.push(`${allowed.length} requests were allowed; expected exactly ${expectedAllowed}`);
  }
  const maxAllowed = limit * (Math.floor(spanMs / windowMs) + 1);
  if (allowed.length > maxAllowed) {
    problems.push(`${allowed.length} requests were allowed; at most ${maxAllowed} fit the span`);
  }
  return {
    ok: problems.length === 0,
    allowed: allowed.length,
    denied: denied.length,
    spanMs,
    expectedAllowed,
    maxAllowed,
    maxAllowedInWindow,
    wrongDenials,
    problems,
  };
}

/**
 * The largest number of intervals lying entirely inside some half-open span `[a, a + W)`, with
 * `a` one of the send times. O(n log n): a Fenwick tree over the ranks of the answer times.
 */
export function maxProvenInWindow(items: Timed[], windowMs: number): number {
  const n = items.length;
  if (n === 0) return 0;
  const bySent = [...items].sort((a, b) => a.sent - b.sent);
  // Rank of each item by answer time; equal times get adjacent ranks.
  const order = bySent.map((_, i) => i).sort((a, b) => bySent[a]!.done - bySent[b]!.done);
  const rank = new Int32Array(n);
  order.forEach((item, r) => rank[item] = r);
  const doneSorted = order.map((i) => bySent[i]!.done);
  const tree = new Int32Array(n + 1);
  let best = 0;
  // From the latest send backwards: at i the tree holds every item sent at or after bySent[i]
  // (for equal send times, all of them once the first is reached).
  for (let i = n - 1; i >= 0; i--) {
    for (let j = rank[i]! + 1; j <= n; j += j & -j) tree[j]!++;
    // Inserted items answered before sent + W: ranks below the first done ≥ sent + W.
    let inside = 0;
    for (let j = lowerBound(doneSorted, bySent[i]!.sent + windowMs); j > 0; j -= j & -j) {
      inside += tree[j]!;
    }
    if (inside > best) best = inside;
  }
  return best;
}

/** Denied requests for which fewer than `limit` allowed ones could lie in the window before. */
export function countWrongDenials(
  allowed: Timed[],
  denied: Timed[],
  limit: number,
  windowMs: number,
): number {
  const sent = allowed.map((t) => t.sent).sort((a, b) => a - b);
  const done = allowed.map((t) => t.done).sort((a, b) => a - b);
  let wrong = 0;
  for (const k of denied) {
    // Allowed i could precede k within the window iff sentᵢ ≤ doneₖ and doneᵢ > sentₖ − W.
    const possible = upperBound(sent, k.done) - upperBound(done, k.sent - windowMs);
    if (possible < limit) wrong++;
  }
  return wrong;
}

/** First index whose value is ≥ `value`. */
function lowerBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose value is > `value`. */
function upperBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
