/** An item the {@linkcode ExpiryIndex} files: its expiry and where the index keeps it. */
export interface ExpiryItem {
  /** Time (ms since epoch) after which the item may be dropped. */
  expiresAt: number;
  /** Bucket the item is filed in, or {@linkcode NOT_FILED}; owned by the index. */
  bucket: number;
  /** Position in that bucket; owned by the index. */
  slot: number;
}

/** {@linkcode ExpiryItem.bucket} of an item the index does not hold. */
export const NOT_FILED = -1;

/**
 * A timing wheel of expiries: items filed in buckets of `bucketMs` by expiry time, drained in time
 * order with a work budget, so expiring costs work proportional to what expired, never a scan.
 *
 * Bucket `b` holds items expiring in `((b - 1) × bucketMs, b × bucketMs]`; it is due once
 * `b × bucketMs ≤ now`. An item whose expiry moved later stays in its old bucket and is re-filed
 * when that bucket comes due (no work on the hot path of a key written again and again); one whose
 * expiry moved earlier is moved at once. Each item is held exactly once (removal is O(1): the last
 * item of the bucket takes its slot), so the index never holds more than the items filed in it.
 *
 * Work of one {@linkcode drain} is counted in steps: one per item popped (dropped or re-filed) and
 * one per empty bucket passed. An item is popped once for being filed and once per later re-filing,
 * and it is re-filed only if a write moved its expiry after it was filed: a drain of 2 steps per
 * write keeps up with any write rate, whatever the background sweep manages.
 */
export class ExpiryIndex<T extends ExpiryItem> {
  readonly #bucketMs: number;
  readonly #buckets = new Map<number, T[]>();
  /** First bucket not drained yet. */
  #next: number;
  #size = 0;

  /** An index whose first bucket is the one due at `nowMs`. */
  constructor(bucketMs: number, nowMs: number) {
    if (!Number.isFinite(bucketMs) || bucketMs <= 0) {
      throw new RangeError(`Cannot use bucketMs ${bucketMs}: expected a number > 0`);
    }
    this.#bucketMs = bucketMs;
    this.#next = Math.floor(nowMs / bucketMs);
  }

  /** Number of items filed. */
  get size(): number {
    return this.#size;
  }

  /** Files `item` after its `expiresAt` was set or changed. */
  file(item: T): void {
    const target = Math.max(Math.ceil(item.expiresAt / this.#bucketMs), this.#next);
    if (item.bucket !== NOT_FILED) {
      // Later: re-filed when its bucket comes due. Earlier: must move, or it would expire late.
      if (target >= item.bucket) return;
      this.remove(item);
    }
    let bucket = this.#buckets.get(target);
    if (bucket === undefined) {
      bucket = [];
      this.#buckets.set(target, bucket);
    }
    item.bucket = target;
    item.slot = bucket.length;
    bucket.push(item);
    this.#size++;
  }

  /** Takes `item` out of the index (no-op if it is not filed). */
  remove(item: T): void {
    if (item.bucket === NOT_FILED) return;
    const bucket = this.#buckets.get(item.bucket)!;
    const last = bucket.pop()!;
    if (last !== item) {
      bucket[item.slot] = last;
      last.slot = item.slot;
    }
    if (bucket.length === 0) this.#buckets.delete(item.bucket);
    item.bucket = NOT_FILED;
    this.#size--;
  }

  /**
   * Pops due items, at most `budget` steps: each expired one (`expiresAt ≤ nowMs`) is passed to
   * `onExpired` (already out of the index), the others are re-filed. Returns the steps taken.
   */
  drain(nowMs: number, budget: number, onExpired: (item: T) => void): number {
    const last = Math.floor(nowMs / this.#bucketMs);
    // Nothing filed: skip the empty buckets of an idle stretch in one step.
    if (this.#size === 0) {
      if (this.#next <= last) this.#next = last + 1;
      return 0;
    }
    let steps = 0;
    while (this.#next <= last && steps < budget) {
      const id = this.#next;
      const bucket = this.#buckets.get(id);
      if (bucket === undefined) {
        this.#next++;
        steps++;
        if (this.#size === 0) break;
        continue;
      }
      while (bucket.length > 0 && steps < budget) {
        const item = bucket.pop()!;
        item.bucket = NOT_FILED;
        this.#size--;
        steps++;
        if (item.expiresAt <= nowMs) {
          onExpired(item);
        } else {
          // Its expiry moved past this bucket, which lies wholly in the past: a later bucket.
          this.file(item);
        }
      }
      if (bucket.length === 0) {
        this.#buckets.delete(id);
        this.#next++;
      }
    }
    if (this.#size === 0 && this.#next <= last) this.#next = last + 1;
    return steps;
  }
}
