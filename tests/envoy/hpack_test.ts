import assert from "node:assert/strict";
import { HpackDecoder, HpackError } from "../../src/envoy/hpack.ts";

const hex = (text: string) =>
  Uint8Array.from(text.replace(/\s+/g, "").match(/../g)!.map((b) => parseInt(b, 16)));

Deno.test("HpackDecoder decodes RFC 7541 C.3 (requests without Huffman), dynamic table kept", () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex("828684410f7777772e6578616d706c652e636f6d")), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
  ]);
  assert.deepEqual(d.decode(hex("828684be58086e6f2d6361636865")), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
    ["cache-control", "no-cache"],
  ]);
  assert.deepEqual(
    d.decode(hex("828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565")),
    [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ],
  );
});

Deno.test("HpackDecoder decodes RFC 7541 C.4 (requests with Huffman)", () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex("828684418cf1e3c2e5f23a6ba0ab90f4ff")), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
  ]);
  assert.deepEqual(d.decode(hex("828684be5886a8eb10649cbf")), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
    ["cache-control", "no-cache"],
  ]);
  assert.deepEqual(d.decode(hex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf")), [
    [":method", "GET"],
    [":scheme", "https"],
    [":path", "/index.html"],
    [":authority", "www.example.com"],
    ["custom-key", "custom-value"],
  ]);
});

Deno.test("HpackDecoder refuses malformed blocks", () => {
  const bad = [
    hex("80"), // index 0
    hex("ff00"), // index beyond the table
    hex("41"), // truncated literal
    hex("4185ffffffffff"), // Huffman EOS / bad padding
    hex("3fe21f"), // table size above the setting (4097)
    hex("82 20"), // size update after a field
  ];
  for (const block of bad) assert.throws(() => new HpackDecoder().decode(block), HpackError);
});
