/**
 * Raw HTTP/2 frames for the abuse tests of the node's own transport: the client preface, frames
 * built byte by byte, the HEADERS of a gRPC call, and a reader that parses what comes back.
 *
 * @module
 */
import { WireWriter } from "../../src/envoy/wire.ts";

/** The client connection preface. */
export const PREFACE: Uint8Array = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** One frame: 9 bytes of header, then `payload`. */
export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: ArrayLike<number> = [],
): Uint8Array {
  const n = payload.length;
  const out = new Uint8Array(9 + n);
  out.set([
    (n >> 16) & 0xff,
    (n >> 8) & 0xff,
    n & 0xff,
    type,
    flags,
    (stream >>> 24) & 0x7f,
    (stream >> 16) & 0xff,
    (stream >> 8) & 0xff,
    stream & 0xff,
  ]);
  out.set(payload, 9);
  return out;
}

/** `parts` one after the other. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** HEADERS for a gRPC call on stream `id` (literal fields, no Huffman), END_HEADERS. */
export function callHeaders(id: number, flags = 0x4): Uint8Array {
  const lit = (name: string, value: string) => [
    0x00,
    name.length,
    ...new TextEncoder().encode(name),
    value.length,
    ...new TextEncoder().encode(value),
  ];
  return frame(0x1, flags, id, [
    0x83, // :method POST
    0x86, // :scheme http
    ...lit(":path", "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"),
    ...lit("content-type", "application/grpc"),
  ]);
}

/** A length-prefixed ShouldRateLimit request for domain `d`, descriptor `k=value`. */
export function requestMessage(value: string): Uint8Array {
  const entry = new WireWriter().string(1, "k").string(2, value);
  const descriptor = new WireWriter().message(1, entry);
  const message = new WireWriter().string(1, "d").message(2, descriptor).finish();
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** A frame as read back. */
export interface ReadFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Uint8Array;
}

/**
 * Reads frames from `conn` until `stop` says so for one of them, or the connection ends; returns
 * all read (no timer: `stop` must be bound to come, e.g. the ACK of a PING sent last).
 */
export async function readFrames(
  conn: Deno.Conn,
  stop: (f: ReadFrame) => boolean,
): Promise<ReadFrame[]> {
  const frames: ReadFrame[] = [];
  let buf: Uint8Array = new Uint8Array(0);
  const chunk = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(chunk).catch(() => null);
    if (n === null) return frames;
    buf = concat(buf, chunk.subarray(0, n));
    let pos = 0;
    while (buf.length - pos >= 9) {
      const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
      if (buf.length - pos < 9 + length) break;
      const f = {
        type: buf[pos + 3]!,
        flags: buf[pos + 4]!,
        stream: ((buf[pos + 5]! & 0x7f) << 24) | (buf[pos + 6]! << 16) | (buf[pos + 7]! << 8) |
          buf[pos + 8]!,
        payload: buf.slice(pos + 9, pos + 9 + length),
      };
      pos += 9 + length;
      frames.push(f);
      if (stop(f)) return frames;
    }
    buf = buf.slice(pos);
  }
}
