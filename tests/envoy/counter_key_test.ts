import assert from "node:assert/strict";
import { descriptorCounterKey } from "../../src/envoy/counter_key.ts";
import { keyProblem } from "../../src/limiter/bounds.ts";

const e = (...pairs: [string, string][]) => pairs.map(([key, value]) => ({ key, value }));

Deno.test("descriptorCounterKey is readable, deterministic and injective", () => {
  assert.equal(
    descriptorCounterKey("edge", e(["user", "alice"], ["path", "/a"])),
    "rls:edge/user=alice/path=%2Fa",
  );
  // Pairs a naive join would confuse get distinct keys.
  const keys = [
    descriptorCounterKey("a", e(["b", "c"])),
    descriptorCounterKey("a/b=c", []),
    descriptorCounterKey("a", e(["b=c", ""])),
    descriptorCounterKey("a", e(["b", "c/d=e"])),
    descriptorCounterKey("a", e(["b", "c"], ["d", "e"])),
    descriptorCounterKey("a", e(["b", "c%2Fd=e"])),
    descriptorCounterKey("a", e(["b", "c\0"])),
  ];
  assert.equal(new Set(keys).size, keys.length);
  for (const key of keys) assert.equal(keyProblem(key), undefined);
});

Deno.test("descriptorCounterKey hashes a key beyond 512 bytes, within the bound", () => {
  const long = descriptorCounterKey("d", e(["k", "é".repeat(300)]));
  assert.match(long, /^rls#[0-9a-f]{64}$/);
  assert.equal(long, descriptorCounterKey("d", e(["k", "é".repeat(300)])));
  assert.notEqual(long, descriptorCounterKey("d", e(["k", "é".repeat(301)])));
  // Just at the bound it stays readable.
  const edge = descriptorCounterKey("d", e(["k", "x".repeat(512 - "rls:d/k=".length)]));
  assert.ok(edge.startsWith("rls:d/k="));
  assert.equal(keyProblem(edge), undefined);
});
