/**
 * Splitting a batch by where its items go (a cluster node, a slot) and putting the answers back
 * in the batch's order.
 *
 * @module
 */

/** Items of a batch that go to one place, with their positions in the batch. */
export interface Part<P> {
  /** Where these items go (a node address, a slot). */
  place: P;
  /** Positions of the items in the batch, ascending. */
  indexes: number[];
}

/**
 * Groups the positions of `items` by `placeOf(item)`: parts in the order of their first item,
 * positions ascending within each part. `[[0, 2], [1]]` for places `a, b, a`.
 */
export function partition<T, P>(
  items: readonly T[],
  placeOf: (item: T, index: number) => P,
): Part<P>[] {
  const parts = new Map<P, Part<P>>();
  items.forEach((item, index) => {
    const place = placeOf(item, index);
    let part = parts.get(place);
    if (part === undefined) {
      part = { place, indexes: [] };
      parts.set(place, part);
    }
    part.indexes.push(index);
  });
  return [...parts.values()];
}

/**
 * Runs `run` once per part (all at once) with that part's items, and returns every answer at its
 * item's position in the batch. `run` must answer one result per item, in the order given.
 */
export async function runByPart<T, P, R>(
  items: readonly T[],
  parts: readonly Part<P>[],
  run: (items: T[], place: P) => Promise<R[]>,
): Promise<R[]> {
  const answers = new Array<R>(items.length);
  await Promise.all(parts.map(async (part) => {
    const results = await run(part.indexes.map((i) => items[i]!), part.place);
    if (results.length !== part.indexes.length) {
      throw new Error(`Expected ${part.indexes.length} answers, received ${results.length}`);
    }
    part.indexes.forEach((position, i) => answers[position] = results[i]!);
  }));
  return answers;
}
