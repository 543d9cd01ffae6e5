import assert from "node:assert/strict";
import { partition, runByPart } from "../../src/redis/partition.ts";

Deno.test("partition() groups positions by place, parts in order of their first item", () => {
  const parts = partition(["a1", "b1", "a2", "c1", "b2"], (item) => item[0]!);
  assert.deepEqual(parts, [
    { place: "a", indexes: [0, 2] },
    { place: "b", indexes: [1, 4] },
    { place: "c", indexes: [3] },
  ]);
  assert.deepEqual(partition([], () => "x"), []);
});

Deno.test("runByPart() answers every item at its position, whatever order parts finish in", async () => {
  const items = [1, 2, 3, 4, 5, 6];
  const parts = partition(items, (n) => n % 3);
  const delays = new Map([[0, 30], [1, 0], [2, 10]]);
  const answers = await runByPart(items, parts, async (group, place) => {
    await new Promise((r) => setTimeout(r, delays.get(place)));
    return group.map((n) => n * 10);
  });
  assert.deepEqual(answers, [10, 20, 30, 40, 50, 60]);
});

Deno.test("runByPart() rejects a part that answers the wrong number of results", async () => {
  const items = ["a", "b"];
  await assert.rejects(
    runByPart(items, partition(items, () => 0), () => Promise.resolve(["only one"])),
    /Expected 2 answers, received 1/,
  );
});
