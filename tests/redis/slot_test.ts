import assert from "node:assert/strict";
import { crc16, hashTagOf, keySlot, SLOT_COUNT, slotPartition } from "../../src/redis/slot.ts";

Deno.test("crc16() is CRC16-XMODEM: the check value of '123456789' is 0x31C3", () => {
  assert.equal(crc16(new TextEncoder().encode("123456789")), 0x31c3);
});

Deno.test("keySlot() agrees with CLUSTER KEYSLOT on known keys", () => {
  // Values from Redis's own documentation and `redis-cli CLUSTER KEYSLOT`.
  assert.equal(keySlot("foo"), 12182);
  assert.equal(keySlot("bar"), 5061);
  assert.equal(keySlot("hello"), 866);
  assert.equal(keySlot(""), 0);
});

Deno.test("hashTagOf() follows Redis's hash-tag rule", () => {
  assert.equal(hashTagOf("{user1000}.following"), "user1000");
  assert.equal(hashTagOf("foo{}{bar}"), "foo{}{bar}", "an empty first tag: the whole key");
  assert.equal(hashTagOf("foo{{bar}}zap"), "{bar", "the first { to the next }");
  assert.equal(hashTagOf("foo{bar}{zap}"), "bar");
  assert.equal(hashTagOf("no-tag"), "no-tag");
  assert.equal(hashTagOf("open{only"), "open{only");
});

Deno.test("keySlot(): keys sharing a tag share a slot; every slot is in range", () => {
  assert.equal(keySlot("rl:fw:{tenant}:a"), keySlot("rl:sw:{tenant}:b"));
  assert.equal(keySlot("rl:fw:{tenant}:a"), keySlot("tenant"));
  for (let i = 0; i < 1000; i++) {
    const slot = keySlot(`k${i}é`);
    assert.ok(slot >= 0 && slot < SLOT_COUNT);
  }
});

Deno.test("slotPartition(): keys of one slot share a partition, keys of two slots do not", () => {
  assert.equal(slotPartition("rl:fw:{t}:a"), slotPartition("rl:sl:{t}:b"));
  assert.equal(slotPartition("foo"), "12182");
  assert.notEqual(slotPartition("rl:fw:{a}"), slotPartition("rl:fw:{b}"));
});
