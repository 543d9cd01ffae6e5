import assert from "node:assert/strict";
import { ExpiryIndex, type ExpiryItem, NOT_FILED } from "../../src/store/expiry_index.ts";

interface Item extends ExpiryItem {
  name: string;
}

const item = (name: string, expiresAt: number): Item => ({
  name,
  expiresAt,
  bucket: NOT_FILED,
  slot: 0,
});

function drainAll(index: ExpiryIndex<Item>, now: number): string[] {
  const expired: string[] = [];
  index.drain(now, Infinity, (i) => expired.push(i.name));
  return expired.sort();
}

Deno.test("ExpiryIndex.drain() pops only expired items, each once", () => {
  const index = new ExpiryIndex<Item>(100, 0);
  const items = [item("a", 50), item("b", 150), item("c", 1000)];
  for (const i of items) index.file(i);
  assert.deepEqual(drainAll(index, 99), []);
  assert.deepEqual(drainAll(index, 100), ["a"]);
  assert.deepEqual(drainAll(index, 999), ["b"]);
  assert.deepEqual(index.size, 1);
  assert.deepEqual(drainAll(index, 5000), ["c"]);
  assert.deepEqual(index.size, 0);
});

Deno.test("ExpiryIndex.file() re-files an item whose expiry moved later when it comes due", () => {
  const index = new ExpiryIndex<Item>(100, 0);
  const a = item("a", 100);
  index.file(a);
  a.expiresAt = 450;
  index.file(a);
  assert.deepEqual(index.size, 1);
  assert.deepEqual(drainAll(index, 200), []);
  assert.deepEqual(index.size, 1);
  assert.deepEqual(drainAll(index, 500), ["a"]);
});

Deno.test("ExpiryIndex.file() moves an item whose expiry moved earlier at once", () => {
  const index = new ExpiryIndex<Item>(100, 0);
  const a = item("a", 1_000_000);
  index.file(a);
  a.expiresAt = 100;
  index.file(a);
  assert.deepEqual(index.size, 1);
  assert.deepEqual(drainAll(index, 100), ["a"]);
});

Deno.test("ExpiryIndex.remove() takes an item out in O(1), keeping the others", () => {
  const index = new ExpiryIndex<Item>(100, 0);
  const items = Array.from({ length: 10 }, (_, n) => item(`i${n}`, 50));
  for (const i of items) index.file(i);
  index.remove(items[3]!);
  index.remove(items[9]!);
  index.remove(items[3]!);
  assert.deepEqual(index.size, 8);
  assert.deepEqual(drainAll(index, 100).length, 8);
});

Deno.test("ExpiryIndex.drain() takes at most `budget` steps and resumes where it stopped", () => {
  const index = new ExpiryIndex<Item>(100, 0);
  for (let n = 0; n < 1000; n++) index.file(item(`i${n}`, n));
  let expired = 0;
  let calls = 0;
  for (;;) {
    const steps = index.drain(2000, 64, () => expired++);
    assert.deepEqual(steps <= 64, true);
    if (steps === 0) break;
    calls++;
  }
  assert.deepEqual(expired, 1000);
  assert.deepEqual(calls >= 1000 / 64, true);
});

Deno.test("ExpiryIndex.drain() skips an idle stretch in one step when empty", () => {
  const index = new ExpiryIndex<Item>(100, 0);
  assert.deepEqual(index.drain(30 * 86_400_000, 10, () => {}), 0);
  const a = item("a", 30 * 86_400_000 + 150);
  index.file(a);
  assert.deepEqual(drainAll(index, 30 * 86_400_000 + 200), ["a"]);
});

Deno.test("ExpiryIndex rejects a bucket width that is not a positive number", () => {
  assert.throws(() => new ExpiryIndex(0, 0), RangeError);
});
