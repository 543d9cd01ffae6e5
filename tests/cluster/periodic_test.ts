import assert from "node:assert/strict";
import { Periodic } from "../../src/cluster/periodic.ts";

Deno.test("Periodic runs at once, then after each run ends, never overlapping, until stopped", async () => {
  let runs = 0;
  let active = 0;
  let maxActive = 0;
  const loop = new Periodic(1, async () => {
    runs++;
    active++;
    maxActive = Math.max(maxActive, active);
    await new Promise((resolve) => setTimeout(resolve, 5));
    active--;
    if (runs === 2) throw new Error("a failed run does not end the loop");
  });
  assert.equal(loop.started, false);
  loop.start();
  loop.start();
  assert.equal(runs, 1);
  while (runs < 4) await new Promise((resolve) => setTimeout(resolve, 2));
  await loop.stop();
  assert.equal(loop.started, false);
  const after = runs;
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(runs, after);
  assert.equal(active, 0);
  assert.equal(maxActive, 1);
});
