/**
 * An HPACK (RFC 7541) header block decoder for the HTTP/2 transport of `h2_server.ts`: indexed
 * fields, literals with and without indexing, the dynamic table with its size updates, and
 * Huffman-coded strings. One decoder per connection (the dynamic table is connection state), fed
 * every header block in order. A malformed block is an {@linkcode HpackError}, a connection error.
 *
 * @module
 */
import { HPACK_STATIC_TABLE, HUFFMAN_CODES, HUFFMAN_LENGTHS } from "./hpack_tables.ts";

/** A header block that cannot be decoded: the connection must end (COMPRESSION_ERROR). */
export class HpackError extends Error {
  /** An error saying what is wrong with the block. */
  constructor(message: string) {
    super(message);
    this.name = "HpackError";
  }
}

/**
 * The Huffman decoding tree, as a flat array: node `n` has children at `tree[2n]` (bit 0) and
 * `tree[2n + 1]` (bit 1); a child `< 0` is the leaf of symbol `-child - 1`, `0` is no child.
 */
const TREE: Int32Array = (() => {
  const tree = new Int32Array(2 * 2 * 257 + 2);
  let nodes = 1;
  for (let symbol = 0; symbol < 257; symbol++) {
    const code = HUFFMAN_CODES[symbol]!;
    const length = HUFFMAN_LENGTHS[symbol]!;
    let node = 0;
    for (let i = length - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) % 2;
      const slot = 2 * node + bit;
      if (i === 0) {
        tree[slot] = -symbol - 1;
      } else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot]!;
      }
    }
  }
  return tree;
})();

const latin1 = new TextDecoder("latin1");

function huffmanDecode(bytes: Uint8Array, start: number, end: number): string {
  const out: number[] = [];
  let node = 0;
  let depth = 0;
  let allOnes = true;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      const next = TREE[2 * node + bit]!;
      depth++;
      allOnes &&= bit === 1;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === 256) throw new HpackError("EOS in a Huffman string");
        out.push(symbol);
        node = 0;
        depth = 0;
        allOnes = true;
      } else if (next === 0) {
        throw new HpackError("invalid Huffman code");
      } else node = next;
    }
  }
  // Padding: at most 7 bits, all ones (a prefix of EOS).
  if (depth > 7 || !allOnes) throw new HpackError("invalid Huffman padding");
  return latin1.decode(Uint8Array.from(out));
}

/** Most bytes of dynamic table this side accepts (SETTINGS_HEADER_TABLE_SIZE, the default). */
export const HPACK_TABLE_SIZE = 4096;

/** Decodes the header blocks of one connection. */
export class HpackDecoder {
  #dynamic: [string, string][] = [];
  #size = 0;
  #maxSize = HPACK_TABLE_SIZE;

  /** Decodes one complete header block into name/value pairs, in order. */
  decode(block: Uint8Array): [string, string][] {
    const fields: [string, string][] = [];
    let pos = 0;
    const end = block.length;
    const integer = (prefixBits: number): number => {
      const max = (1 << prefixBits) - 1;
      let value = block[pos++]! & max;
      if (value < max) return value;
      let shift = 0;
      for (;;) {
        if (pos >= end) throw new HpackError("truncated integer");
        const byte = block[pos++]!;
        value += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if (byte < 0x80) break;
        if (shift > 28) throw new HpackError("integer too large");
      }
      return value;
    };
    const string = (): string => {
      if (pos >= end) throw new HpackError("truncated string");
      const huffman = (block[pos]! & 0x80) !== 0;
      const length = integer(7);
      if (length > end - pos) throw new HpackError("truncated string");
      const start = pos;
      pos += length;
      return huffman ? huffmanDecode(block, start, pos) : latin1.decode(block.subarray(start, pos));
    };
    const entry = (index: number): [string, string] => {
      if (index === 0) throw new HpackError("index 0");
      if (index < HPACK_STATIC_TABLE.length) {
        const [name, value] = HPACK_STATIC_TABLE[index]!;
        return [name, value];
      }
      const dynamic = this.#dynamic[index - HPACK_STATIC_TABLE.length];
      if (dynamic === undefined) throw new HpackError(`index ${index} beyond the table`);
      return dynamic;
    };
    let first = true;
    while (pos < end) {
      const byte = block[pos]!;
      if (byte >= 0x80) {
        fields.push([...entry(integer(7))]);
      } else if (byte >= 0x40) {
        const index = integer(6);
        const name = index === 0 ? string() : entry(index)[0];
        const value = string();
        fields.push([name, value]);
        this.#add(name, value);
      } else if (byte >= 0x20) {
        // Dynamic table size update: only at the start of a block.
        if (!first) throw new HpackError("table size update after a field");
        const size = integer(5);
        if (size > HPACK_TABLE_SIZE) throw new HpackError("table size above the setting");
        this.#maxSize = size;
        this.#evict(0);
      } else {
        // Literal without indexing (0000) or never indexed (0001).
        const index = integer(4);
        const name = index === 0 ? string() : entry(index)[0];
        fields.push([name, string()]);
      }
      first = false;
    }
    return fields;
  }

  #add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.#evict(size);
    if (size > this.#maxSize) return; // too large: the table is now empty
    this.#dynamic.unshift([name, value]);
    this.#size += size;
  }

  /** Evicts the oldest entries until `room` bytes fit. */
  #evict(room: number): void {
    while (this.#size + room > this.#maxSize && this.#dynamic.length > 0) {
      const [name, value] = this.#dynamic.pop()!;
      this.#size -= name.length + value.length + 32;
    }
  }
}
