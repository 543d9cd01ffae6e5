/**
 * The protocol buffers wire format, as far as the rate limit service's messages need it: a reader
 * that walks the fields of one message (varints, 64-bit, length-delimited and 32-bit fields; any
 * unknown field is skipped, a malformed one is a {@linkcode WireError}) and a writer that builds
 * one message. Written from the published encoding rules; no generated code.
 *
 * @module
 */

/** A malformed message: truncated, a bad varint, a deprecated group, invalid UTF-8. */
export class WireError extends Error {
  /** An error saying what is wrong with the bytes. */
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

/** Wire types of a field's tag. */
export const WIRE = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Reads the fields of one message from `bytes[start, end)`. */
export class WireReader {
  #bytes: Uint8Array;
  #pos: number;
  #end: number;

  /** A reader of the message in `bytes[start, end)`. */
  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#pos = start;
    this.#end = end;
  }

  /** Whether every field has been read. */
  get done(): boolean {
    return this.#pos >= this.#end;
  }

  /**
   * A varint as a number. Values above 2^53 lose precision (they are clamped by the callers);
   * more than 10 bytes is an error.
   */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= this.#end) throw new WireError("truncated varint");
      const byte = this.#bytes[this.#pos++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
    throw new WireError("varint longer than 10 bytes");
  }

  /** The next field's number and wire type, or `undefined` at the end. */
  tag(): { field: number; type: number } | undefined {
    if (this.done) return undefined;
    const tag = this.varint();
    const field = Math.floor(tag / 8);
    if (field === 0) throw new WireError("field number 0");
    return { field, type: tag % 8 };
  }

  /** The bounds of a length-delimited field's payload, which is then skipped. */
  span(): [number, number] {
    const length = this.varint();
    const start = this.#pos;
    if (length > this.#end - start) throw new WireError("truncated length-delimited field");
    this.#pos = start + length;
    return [start, this.#pos];
  }

  /** A length-delimited field read as a nested message. */
  message(): WireReader {
    const [start, end] = this.span();
    return new WireReader(this.#bytes, start, end);
  }

  /** A length-delimited field read as UTF-8 text (proto3 strings must be valid UTF-8). */
  string(): string {
    const [start, end] = this.span();
    const bytes = this.#bytes;
    if (end - start <= 64) {
      // Short ASCII, the common case (keys, values, domains): no decoder call.
      let text = "";
      let i = start;
      for (; i < end; i++) {
        const byte = bytes[i]!;
        if (byte >= 0x80) break;
        text += String.fromCharCode(byte);
      }
      if (i === end) return text;
    }
    try {
      return utf8Decoder.decode(this.#bytes.subarray(start, end));
    } catch {
      throw new WireError("string field is not valid UTF-8");
    }
  }

  /** Skips one field of wire type `type`. */
  skip(type: number): void {
    switch (type) {
      case WIRE.VARINT:
        this.varint();
        return;
      case WIRE.I64:
        this.#advance(8);
        return;
      case WIRE.LEN:
        this.span();
        return;
      case WIRE.I32:
        this.#advance(4);
        return;
      default:
        throw new WireError(`unsupported wire type ${type}`);
    }
  }

  /** Checks a field has the wire type its definition says, before reading it. */
  expect(type: number, wanted: number, name: string): void {
    if (type !== wanted) throw new WireError(`field ${name} has wire type ${type}`);
  }

  #advance(n: number): void {
    if (n > this.#end - this.#pos) throw new WireError("truncated fixed-width field");
    this.#pos += n;
  }
}

/** Builds one message; nested messages are built by their own writer and added as bytes. */
export class WireWriter {
  #chunks: number[] = [];
  #parts: Uint8Array[] = [];
  #length = 0;

  #flush(): void {
    if (this.#chunks.length === 0) return;
    const part = Uint8Array.from(this.#chunks);
    this.#parts.push(part);
    this.#length += part.length;
    this.#chunks = [];
  }

  #varint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.#chunks.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    this.#chunks.push(v);
  }

  #tag(field: number, type: number): void {
    this.#varint(field * 8 + type);
  }

  /** A non-negative integer field (uint32, uint64, int64 ≥ 0, enum ≥ 0); 0 is not written. */
  uint(field: number, value: number): this {
    if (value === 0) return this;
    this.#tag(field, WIRE.VARINT);
    this.#varint(value);
    return this;
  }

  /** A string field; the empty string is not written. */
  string(field: number, value: string): this {
    if (value === "") return this;
    return this.bytes(field, encoder.encode(value));
  }

  /** A bytes field (or a nested message's encoding), written even when empty. */
  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, WIRE.LEN);
    this.#varint(value.length);
    this.#flush();
    this.#parts.push(value);
    this.#length += value.length;
    return this;
  }

  /** A nested message field. */
  message(field: number, message: WireWriter): this {
    return this.bytes(field, message.finish());
  }

  /** The encoded message. */
  finish(): Uint8Array {
    this.#flush();
    if (this.#parts.length === 1) return this.#parts[0]!;
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

/** Bytes of a varint of `value` (a non-negative integer). */
export function varintSize(value: number): number {
  let size = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 128)) size++;
  return size;
}

/** `text` as UTF-8, and its length; an ASCII string is written as is, without encoding. */
export interface Utf8 {
  /** The string itself. */
  text: string;
  /** UTF-8 bytes when `text` is not ASCII; `undefined` when it is (its length is then its size). */
  bytes: Uint8Array | undefined;
  /** Its length in bytes of UTF-8. */
  size: number;
}

/** Measures `text` for {@linkcode WireSink.string}. */
export function utf8(text: string): Utf8 {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) {
      const bytes = encoder.encode(text);
      return { text, bytes, size: bytes.length };
    }
  }
  return { text, bytes: undefined, size: text.length };
}

/** Bytes of a length-delimited field of `size` payload bytes with field number below 16. */
export function lenFieldSize(size: number): number {
  return 1 + varintSize(size) + size;
}

/** Bytes of a varint field with field number below 16; 0 when `value` is 0 (not written). */
export function uintFieldSize(value: number): number {
  return value === 0 ? 0 : 1 + varintSize(value);
}

/**
 * Writes a message of a size known in advance into one buffer: the fast encoder of the answers
 * (no intermediate arrays). Field numbers must be below 16 (one-byte tags).
 */
export class WireSink {
  /** The buffer written into (the whole message, offset included). */
  readonly bytes: Uint8Array;
  #pos: number;

  /** A sink of `size` bytes, starting at `offset` (room for a frame header before it). */
  constructor(size: number, offset = 0) {
    this.bytes = new Uint8Array(offset + size);
    this.#pos = offset;
  }

  #varint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.bytes[this.#pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.bytes[this.#pos++] = v;
  }

  /** A varint field; 0 is not written. */
  uint(field: number, value: number): void {
    if (value === 0) return;
    this.bytes[this.#pos++] = field * 8 + WIRE.VARINT;
    this.#varint(value);
  }

  /** The header of a length-delimited field whose `size` payload bytes follow. */
  len(field: number, size: number): void {
    this.bytes[this.#pos++] = field * 8 + WIRE.LEN;
    this.#varint(size);
  }

  /** A string field (measured by {@linkcode utf8}); the empty string is not written. */
  string(field: number, value: Utf8): void {
    if (value.size === 0) return;
    this.len(field, value.size);
    if (value.bytes !== undefined) {
      this.bytes.set(value.bytes, this.#pos);
      this.#pos += value.size;
      return;
    }
    const { text } = value;
    for (let i = 0; i < text.length; i++) this.bytes[this.#pos++] = text.charCodeAt(i);
  }

  /** Bytes written so far (the offset included). */
  get position(): number {
    return this.#pos;
  }
}
