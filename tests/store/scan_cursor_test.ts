import assert from "node:assert/strict";
import { encodeScanCursor, parseScanCursor } from "../../src/store/scan_cursor.ts";

Deno.test("scan cursors round-trip, with and without a node", () => {
  for (
    const position of [
      { node: undefined, scan: "1792", skip: 3 },
      { node: "127.0.0.1:7001", scan: "0", skip: 0 },
      { node: "redis-2.example:6379", scan: "18446744073709551615", skip: 12 },
      { node: "[::1]:7000", scan: "5", skip: 1 },
    ]
  ) {
    const cursor = encodeScanCursor(position);
    assert.deepEqual(parseScanCursor(cursor, position.node !== undefined), position, cursor);
  }
  assert.equal(
    encodeScanCursor({ node: "10.0.0.1:7000", scan: "9", skip: 2 }),
    "10.0.0.1:7000-9-2",
  );
});

Deno.test("no cursor starts at the beginning, in either mode", () => {
  for (const clustered of [false, true]) {
    for (const cursor of [undefined, "", "0"]) {
      assert.deepEqual(parseScanCursor(cursor, clustered), { node: undefined, scan: "0", skip: 0 });
    }
  }
});

Deno.test("a cursor this store could not have issued is a RangeError", () => {
  const bad: [string, boolean][] = [
    ["12-0", true], // one-Redis cursor on a cluster
    ["127.0.0.1:7000-12-0", false], // cluster cursor on one Redis
    ["nohost-1-0", true], // no port
    ["a b:1-1-0", true], // space in the host
    ["127.0.0.1:7000-18446744073709551616-0", true], // SCAN cursor past 64 bits
    ["127.0.0.1:7000-1-1234567890", true], // skip too long
    ["x", false],
    ["1-", false],
    ["-1-0", true],
  ];
  for (const [cursor, clustered] of bad) {
    assert.throws(() => parseScanCursor(cursor, clustered), RangeError, cursor);
  }
});
