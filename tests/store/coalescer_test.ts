import assert from "node:assert/strict";
import { Coalescer, type CoalescerOptions } from "../../src/store/coalescer.ts";

interface Item {
  id: string;
  lane?: string;
  kind?: string;
  weight?: number;
}

/** A coalescer over `Item`s that records every call it sends and answers each item by `answer`. */
function setup(
  answer: (item: Item) => string | Error = (item) => `ok:${item.id}`,
  options: Partial<CoalescerOptions<Item, string>> = {},
) {
  const calls: string[][] = [];
  const coalescer = new Coalescer<Item, string>({
    send: (items) => {
      calls.push(items.map((i) => i.id));
      return Promise.resolve(items.map(answer));
    },
    lane: (item) => item.lane ?? "",
    kind: (item) => item.kind ?? "",
    weight: (item) => item.weight ?? 1,
    ...options,
  });
  return { coalescer, calls };
}

Deno.test("Coalescer sends the items of one turn as one call, in order, each getting its own result", async () => {
  const { coalescer, calls } = setup();
  const results = await Promise.all(["a", "b", "c"].map((id) => coalescer.add({ id })));
  assert.deepEqual(results, ["ok:a", "ok:b", "ok:c"]);
  assert.deepEqual(calls, [["a", "b", "c"]]);
  assert.deepEqual(coalescer.stats, { calls: 1, items: 3 });
});

Deno.test("Coalescer sends a lone item alone, and items of later turns in later calls", async () => {
  const { coalescer, calls } = setup();
  assert.equal(await coalescer.add({ id: "a" }), "ok:a");
  assert.deepEqual(calls, [["a"]]);
  await Promise.all([coalescer.add({ id: "b" }), coalescer.add({ id: "c" })]);
  assert.equal(await coalescer.add({ id: "d" }), "ok:d");
  assert.deepEqual(calls, [["a"], ["b", "c"], ["d"]]);
});

Deno.test("Coalescer fails only the item whose result is an Error", async () => {
  const { coalescer } = setup((item) =>
    item.id === "b" ? new Error("WRONGTYPE b") : `ok:${item.id}`
  );
  const settled = await Promise.allSettled(["a", "b", "c"].map((id) => coalescer.add({ id })));
  assert.deepEqual(settled.map((s) => s.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.equal((settled[1] as PromiseRejectedResult).reason.message, "WRONGTYPE b");
});

Deno.test("Coalescer fails every item of a call that fails, and only those", async () => {
  const calls: string[][] = [];
  const coalescer = new Coalescer<Item, string>({
    send: (items) => {
      calls.push(items.map((i) => i.id));
      if (items[0]!.lane === "down") return Promise.reject(new Error("connection lost"));
      return Promise.resolve(items.map((i) => i.id));
    },
    lane: (item) => item.lane ?? "",
  });
  const settled = await Promise.allSettled([
    coalescer.add({ id: "a", lane: "down" }),
    coalescer.add({ id: "b", lane: "up" }),
    coalescer.add({ id: "c", lane: "down" }),
  ]);
  assert.deepEqual(settled.map((s) => s.status), ["rejected", "fulfilled", "rejected"]);
  assert.deepEqual(calls, [["a", "c"], ["b"]]);
});

Deno.test("Coalescer fails the items when send throws, and when it answers too few results", async () => {
  const throwing = new Coalescer<Item, string>({
    send: () => {
      throw new TypeError("bad arguments");
    },
  });
  await assert.rejects(throwing.add({ id: "a" }), TypeError);
  const short = new Coalescer<Item, string>({ send: () => Promise.resolve(["only one"]) });
  const settled = await Promise.allSettled([short.add({ id: "a" }), short.add({ id: "b" })]);
  assert.deepEqual(settled.map((s) => s.status), ["fulfilled", "rejected"]);
});

Deno.test("Coalescer splits a lane where the kind changes, keeping its order", async () => {
  const { coalescer, calls } = setup();
  await Promise.all([
    coalescer.add({ id: "w1", kind: "w" }),
    coalescer.add({ id: "w2", kind: "w" }),
    coalescer.add({ id: "r1", kind: "r" }),
    coalescer.add({ id: "w3", kind: "w" }),
  ]);
  assert.deepEqual(calls, [["w1", "w2"], ["r1"], ["w3"]]);
});

Deno.test("Coalescer keeps each lane's order and never mixes lanes", async () => {
  const { coalescer, calls } = setup();
  await Promise.all(
    ["x1", "y1", "x2", "y2", "x3"].map((id) => coalescer.add({ id, lane: id[0]! })),
  );
  assert.deepEqual(calls, [["x1", "x2", "x3"], ["y1", "y2"]]);
});

Deno.test("Coalescer caps the weight of one call at maxWeight; a heavier item goes alone", async () => {
  const { coalescer, calls } = setup(undefined, { maxWeight: 10 });
  await Promise.all([
    coalescer.add({ id: "a", weight: 4 }),
    coalescer.add({ id: "b", weight: 6 }),
    coalescer.add({ id: "c", weight: 1 }),
    coalescer.add({ id: "d", weight: 16 }),
    coalescer.add({ id: "e", weight: 1 }),
  ]);
  assert.deepEqual(calls, [["a", "b"], ["c"], ["d"], ["e"]]);
  assert.throws(() => setup(undefined, { maxWeight: 0 }), RangeError);
});

Deno.test("Coalescer sends at once (a microtask) when idle, and waits for setImmediate while a call is in flight", async () => {
  const calls: string[][] = [];
  const pending: (() => void)[] = [];
  const coalescer = new Coalescer<Item, string>({
    send: (items) => {
      calls.push(items.map((i) => i.id));
      return new Promise((resolve) => pending.push(() => resolve(items.map((i) => i.id))));
    },
  });
  const a = coalescer.add({ id: "a" });
  await Promise.resolve();
  assert.deepEqual(calls, [["a"]], "idle: sent within the microtasks of its turn");
  const b = coalescer.add({ id: "b" });
  await Promise.resolve();
  const c = coalescer.add({ id: "c" });
  await Promise.resolve();
  assert.deepEqual(calls, [["a"]], "busy: held until the loop runs its immediates");
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(calls, [["a"], ["b", "c"]]);
  for (const settle of pending) settle();
  assert.deepEqual(await Promise.all([a, b, c]), ["a", "b", "c"]);
});
