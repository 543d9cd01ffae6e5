/**
 * Redis Cluster key slots, computed as Redis does (CRC16-XMODEM of the key's hash tag, modulo
 * 16384), so the service can group keys by slot or node before sending anything.
 *
 * @module
 */

/** Number of hash slots of a Redis Cluster. */
export const SLOT_COUNT = 16384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    table[i] = crc;
  }
  return table;
})();

const encoder = new TextEncoder();

/** CRC16-XMODEM (polynomial 0x1021, initial value 0) of `bytes`, as Redis Cluster uses it. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/**
 * The part of a Redis key that decides its slot: the text between the first `{` and the next `}`
 * when that is non-empty, else the whole key (Redis's hash-tag rule).
 */
export function hashTagOf(key: string): string {
  const open = key.indexOf("{");
  if (open < 0) return key;
  const close = key.indexOf("}", open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/** The Redis Cluster slot of `key` (0 to 16383), UTF-8 bytes as Redis sees them. */
export function keySlot(key: string): number {
  return crc16(encoder.encode(hashTagOf(key))) % SLOT_COUNT;
}

/**
 * The slot of a Redis key as text: the partition under which checks may share one script run on
 * a Redis Cluster (a script may only touch keys of one slot), e.g. for a store that coalesces the
 * checks of one event-loop turn into one call.
 */
export function slotPartition(redisKey: string): string {
  return String(keySlot(redisKey));
}
