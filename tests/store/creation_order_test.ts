import assert from "node:assert/strict";
import { CreationOrder, type OrderedItem } from "../../src/store/creation_order.ts";

const item = (seq: number): OrderedItem => ({ seq, orderSlot: -1 });

/** Seqs of the items held, walking every slot from the first one after `after`. */
function heldAfter(order: CreationOrder<OrderedItem>, after: number): number[] {
  const seqs: number[] = [];
  for (let slot = order.seek(after); slot < order.slots; slot++) {
    const held = order.itemAt(slot);
    if (held !== undefined) seqs.push(held.seq);
  }
  return seqs;
}

Deno.test("CreationOrder.seek() finds the first slot after a seq, removed items included", () => {
  const order = new CreationOrder<OrderedItem>();
  const items = [2, 4, 6, 8].map(item);
  items.forEach((i) => order.add(i));
  order.remove(items[1]!);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 8, 9].map((after) => order.seek(after)), [
    0,
    0,
    1,
    1,
    2,
    2,
    4,
    4,
  ]);
  assert.equal(order.seqAt(1), 4);
  assert.equal(order.itemAt(1), undefined);
  assert.deepEqual(heldAfter(order, 3), [6, 8]);
  assert.equal(new CreationOrder().seek(5), 0);
});

Deno.test("CreationOrder compacts removed slots once they outnumber the items held", () => {
  const order = new CreationOrder<OrderedItem>();
  const items = Array.from({ length: 1000 }, (_, i) => item(i + 1));
  items.forEach((i) => order.add(i));
  // Remove every item but each tenth, out of order: the slots never exceed twice the items held.
  for (let i = 999; i >= 0; i--) {
    if (i % 10 === 0) continue;
    order.remove(items[i]!);
    assert.ok(order.slots <= 2 * order.size, `${order.slots} slots, ${order.size} items`);
  }
  assert.equal(order.size, 100);
  assert.ok(order.slots < 200);
  assert.deepEqual(heldAfter(order, 0), items.filter((_, i) => i % 10 === 0).map((i) => i.seq));
  assert.deepEqual(
    heldAfter(order, 500),
    items.filter((_, i) => i % 10 === 0 && i >= 500).map((i) => i.seq),
  );
  // Slots moved by compaction are still removable.
  items.filter((_, i) => i % 10 === 0).forEach((i) => order.remove(i));
  assert.equal(order.size, 0);
  assert.equal(order.slots, 0);
});

Deno.test("CreationOrder.add() rejects a seq not above the last one", () => {
  const order = new CreationOrder<OrderedItem>();
  order.add(item(5));
  assert.throws(() => order.add(item(5)), RangeError);
  assert.throws(() => order.add(item(3)), RangeError);
});
