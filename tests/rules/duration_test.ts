import assert from "node:assert/strict";
import { parseDuration } from "../../src/rules/duration.ts";

Deno.test("parseDuration() sums integer parts of ms, s, m, h and d", () => {
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("1d2h3m4s5ms"), 93_784_005);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("0s"), 0);
});

Deno.test("parseDuration() refuses anything else", () => {
  for (const text of ["", "5", "m", "1.5m", "-5m", "+5m", "5 m", "5M", "5w", "1h 30m", "5mm"]) {
    assert.equal(parseDuration(text), undefined, text);
  }
  assert.equal(parseDuration("9999999999999999d"), undefined);
});
