/** An item a {@linkcode CreationOrder} holds: its creation number and where the order keeps it. */
export interface OrderedItem {
  /** Creation number: greater than that of every item added before it. */
  readonly seq: number;
  /** Position in the order; owned by the order. */
  orderSlot: number;
}

/**
 * Items in creation order, for paging by creation number: seeking to the first item created after
 * a cursor is a binary search (O(log n)), not a walk from the start.
 *
 * Items sit in an append-only array of slots. Removing one empties its slot in O(1); the emptied
 * slots are compacted away as soon as they outnumber the items held, so the slots never exceed
 * twice the items held and compaction costs O(1) amortised per removal. Between
 * compactions slots keep their positions, so a reader may walk them synchronously.
 */
export class CreationOrder<T extends OrderedItem> {
  readonly #seqs: number[] = [];
  readonly #items: (T | undefined)[] = [];
  #emptied = 0;

  /** Items held. */
  get size(): number {
    return this.#items.length - this.#emptied;
  }

  /** Slots, held items and emptied ones not compacted away yet: at most `2 × size`. */
  get slots(): number {
    return this.#items.length;
  }

  /** Appends `item`; throws a `RangeError` if its `seq` is not above every seq added before. */
  add(item: T): void {
    const last = this.#seqs.at(-1);
    if (last !== undefined && item.seq <= last) {
      throw new RangeError(`Cannot add seq ${item.seq}: expected a seq above ${last}`);
    }
    item.orderSlot = this.#items.length;
    this.#seqs.push(item.seq);
    this.#items.push(item);
  }

  /** Removes `item`, which must be held. */
  remove(item: T): void {
    this.#items[item.orderSlot] = undefined;
    this.#emptied++;
    if (this.#emptied * 2 > this.#items.length) this.#compact();
  }

  #compact(): void {
    const seqs = this.#seqs;
    const items = this.#items;
    let kept = 0;
    for (let slot = 0; slot < items.length; slot++) {
      const item = items[slot];
      if (item === undefined) continue;
      seqs[kept] = seqs[slot]!;
      items[kept] = item;
      item.orderSlot = kept;
      kept++;
    }
    seqs.length = kept;
    items.length = kept;
    this.#emptied = 0;
  }

  /** The first slot whose seq is above `after` (`slots` if none). */
  seek(after: number): number {
    const seqs = this.#seqs;
    let low = 0;
    let high = seqs.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (seqs[mid]! <= after) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** The seq of the item added at `slot`, held or removed. */
  seqAt(slot: number): number {
    return this.#seqs[slot]!;
  }

  /** The item at `slot`, or `undefined` if it was removed. */
  itemAt(slot: number): T | undefined {
    return this.#items[slot];
  }
}
