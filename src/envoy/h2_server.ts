/**
 * A minimal HTTP/2 (RFC 9113) server for unary gRPC calls on `Deno.listen`, the transport of the
 * gRPC server: cleartext with prior knowledge (as Envoy's `http2_protocol_options` cluster and every
 * gRPC client speak it), frames parsed and written here, headers decoded by `hpack.ts`, answers
 * encoded with fixed HPACK literals. It replaces `node:http2`, whose layer alone costs several
 * times a whole `/check` on `Deno.serve` (see `bench/RESULTS.md`).
 *
 * Scope: what a unary call needs. Flow control both ways (the receive windows are opened wide and
 * replenished; answers wait for the peer's windows), SETTINGS, PING, WINDOW_UPDATE, RST_STREAM,
 * GOAWAY, CONTINUATION, padding and priority fields; no server push, no upgrade from HTTP/1.1, no
 * TLS. A protocol error ends its connection with GOAWAY, never the process; a stream reset or a
 * dropped connection drops the answers still pending for it.
 *
 * @module
 */
import { HpackDecoder, HpackError } from "./hpack.ts";
import {
  createGrpcMethods,
  GRPC_STATUS,
  type GrpcMethods,
  type GrpcServer,
  type GrpcServerOptions,
  MAX_MESSAGE_BYTES,
} from "./grpc_server.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const FRAME = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 };
const ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  FLOW_CONTROL_ERROR: 3,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
};

/** Streams one connection may have open; more are refused (REFUSED_STREAM). */
export const MAX_CONCURRENT_STREAMS = 1000;
/** The receive window this side announces per stream (bytes). */
const STREAM_WINDOW = 1 << 20;
/** The receive window of the whole connection, opened at start and replenished. */
const CONNECTION_WINDOW = 1 << 24;
/** Largest frame payload this side accepts (the protocol's default). */
const MAX_FRAME = 16_384;
/** Largest header block (all its fragments). */
const MAX_HEADER_BLOCK = 64 * 1024;
/** Most request bytes one connection may hold (messages not yet complete); then ENHANCE_YOUR_CALM. */
export const MAX_CONNECTION_BUFFERED = 4 * 1024 * 1024;
/**
 * Most answer bytes one connection may have queued but not yet written (a peer that sends but does
 * not read); past it the connection is dropped at once.
 */
export const MAX_CONNECTION_UNSENT = 4 * 1024 * 1024;
/** Most frames of one header block (HEADERS and its CONTINUATIONs); then ENHANCE_YOUR_CALM. */
export const MAX_HEADER_FRAMES = 64;
/** The largest flow-control window (2^31 - 1). */
const MAX_WINDOW = 0x7fffffff;

const encoder = new TextEncoder();

/** An HPACK integer with `prefixBits` of prefix, `flags` in the high bits of the first byte. */
function hpackInt(out: number[], flags: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** A literal header field without indexing: by static name index, or with a new name. */
function literal(out: number[], name: number | string, value: string): void {
  if (typeof name === "number") hpackInt(out, 0x00, 4, name);
  else {
    out.push(0x00);
    const bytes = encoder.encode(name);
    hpackInt(out, 0x00, 7, bytes.length);
    out.push(...bytes);
  }
  const bytes = encoder.encode(value);
  hpackInt(out, 0x00, 7, bytes.length);
  out.push(...bytes);
}

/** `:status: 200` (static index 8) and `content-type: application/grpc` (name index 31). */
const OK_HEADERS = (() => {
  const out = [0x88];
  literal(out, 31, "application/grpc");
  return Uint8Array.from(out);
})();
const OK_TRAILERS = (() => {
  const out: number[] = [];
  literal(out, "grpc-status", "0");
  return Uint8Array.from(out);
})();

function errorHeaders(code: number, message: string): Uint8Array {
  const out = Array.from(OK_HEADERS);
  literal(out, "grpc-status", String(code));
  literal(out, "grpc-message", encodeURIComponent(message).replace(/%20/g, " "));
  return Uint8Array.from(out);
}

const NOT_GRPC = (() => {
  const out: number[] = [];
  literal(out, 8, "415");
  literal(out, 31, "text/plain");
  return Uint8Array.from(out);
})();

function frameHeader(length: number, type: number, flags: number, stream: number): Uint8Array {
  const h = new Uint8Array(9);
  h[0] = (length >>> 16) & 0xff;
  h[1] = (length >>> 8) & 0xff;
  h[2] = length & 0xff;
  h[3] = type;
  h[4] = flags;
  h[5] = (stream >>> 24) & 0x7f;
  h[6] = (stream >>> 16) & 0xff;
  h[7] = (stream >>> 8) & 0xff;
  h[8] = stream & 0xff;
  return h;
}

function u32(value: number): Uint8Array {
  return Uint8Array.of(
    (value >>> 24) & 0xff,
    (value >>> 16) & 0xff,
    (value >>> 8) & 0xff,
    value & 0xff,
  );
}

class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = "ConnectionError";
  }
}

interface Stream {
  id: number;
  path: string | undefined;
  encoding: string | undefined;
  chunks: Uint8Array[];
  size: number;
  /** The client has ended its side. */
  remoteEnded: boolean;
  /** An answer has been sent (or the stream given up): further DATA is ignored. */
  answered: boolean;
  sendWindow: number;
  /** Frames of the answer waiting for the peer's flow-control window. */
  pending: { data: Uint8Array; trailers: Uint8Array } | undefined;
  startedAt: number;
  /** Its call is being decided. */
  calling: boolean;
  /** Reset by the client while its call was being decided (counted in `#orphans`). */
  orphaned: boolean;
}

/** One client connection. */
class Connection {
  readonly streams = new Map<number, Stream>();
  #conn: Deno.Conn;
  #methods: GrpcMethods;
  #decoder = new HpackDecoder();
  #buffer = new Uint8Array(0);
  #prefaceSeen = false;
  #lastStream = 0;
  #connSendWindow = 65_535;
  #peerInitialWindow = 65_535;
  #peerMaxFrame = MAX_FRAME;
  #received = 0;
  /** Bytes of request messages held, not yet dispatched. */
  #buffered = 0;
  #continuation:
    | { stream: number; endStream: boolean; parts: Uint8Array[]; size: number }
    | undefined;
  #out: Uint8Array[] = [];
  /** Bytes queued in `#out` or being written. */
  #unsent = 0;
  /** Calls still being decided whose stream the client reset: they count as open streams. */
  #orphans = 0;
  #flushScheduled = false;
  #writing: Promise<void> = Promise.resolve();
  #goingAway = false;
  closed = false;
  readonly done: Promise<void>;

  constructor(conn: Deno.Conn, methods: GrpcMethods, private onClose: () => void) {
    this.#conn = conn;
    this.#methods = methods;
    // Our settings, and the connection window opened wide.
    this.#frame(
      FRAME.SETTINGS,
      0,
      0,
      Uint8Array.of(0, 3, ...u32(MAX_CONCURRENT_STREAMS), 0, 4, ...u32(STREAM_WINDOW)),
    );
    this.#frame(FRAME.WINDOW_UPDATE, 0, 0, u32(CONNECTION_WINDOW - 65_535));
    this.done = this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        this.#append(chunk.subarray(0, n));
        this.#parse();
        if (this.closed) break;
      }
    } catch (error) {
      if (error instanceof ConnectionError) this.goAway(error.code);
      else if (error instanceof HpackError) this.goAway(ERROR.COMPRESSION_ERROR);
      // Anything else (a reset connection): just close.
    } finally {
      await this.#close();
    }
  }

  #append(bytes: Uint8Array): void {
    if (this.#buffer.length === 0) {
      this.#buffer = bytes.slice();
      return;
    }
    const merged = new Uint8Array(this.#buffer.length + bytes.length);
    merged.set(this.#buffer);
    merged.set(bytes, this.#buffer.length);
    this.#buffer = merged;
  }

  #parse(): void {
    let pos = 0;
    const buf = this.#buffer;
    if (!this.#prefaceSeen) {
      if (buf.length < PREFACE.length) return;
      for (let i = 0; i < PREFACE.length; i++) {
        if (buf[i] !== PREFACE[i]) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "no preface");
      }
      this.#prefaceSeen = true;
      pos = PREFACE.length;
    }
    while (buf.length - pos >= 9) {
      const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
      if (length > MAX_FRAME) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "frame too large");
      if (buf.length - pos < 9 + length) break;
      const type = buf[pos + 3]!;
      const flags = buf[pos + 4]!;
      const stream = ((buf[pos + 5]! & 0x7f) << 24) | (buf[pos + 6]! << 16) | (buf[pos + 7]! << 8) |
        buf[pos + 8]!;
      const payload = buf.subarray(pos + 9, pos + 9 + length);
      pos += 9 + length;
      this.#onFrame(type, flags, stream, payload);
      if (this.closed) return;
    }
    this.#buffer = pos === buf.length ? new Uint8Array(0) : buf.slice(pos);
  }

  #onFrame(type: number, flags: number, id: number, payload: Uint8Array): void {
    if (this.#continuation !== undefined && type !== FRAME.CONTINUATION) {
      throw new ConnectionError(ERROR.PROTOCOL_ERROR, "expected CONTINUATION");
    }
    switch (type) {
      case FRAME.DATA:
        return this.#onData(flags, id, payload);
      case FRAME.HEADERS:
        return this.#onHeaders(flags, id, payload);
      case FRAME.CONTINUATION: {
        const c = this.#continuation;
        if (c === undefined || c.stream !== id) {
          throw new ConnectionError(ERROR.PROTOCOL_ERROR, "unexpected CONTINUATION");
        }
        c.parts.push(payload.slice());
        c.size += payload.length;
        if (c.size > MAX_HEADER_BLOCK) {
          throw new ConnectionError(ERROR.PROTOCOL_ERROR, "header block too large");
        }
        if (c.parts.length > MAX_HEADER_FRAMES) {
          throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, "too many CONTINUATION frames");
        }
        if (flags & FLAG.END_HEADERS) {
          this.#continuation = undefined;
          const block = new Uint8Array(c.size);
          let at = 0;
          for (const part of c.parts) {
            block.set(part, at);
            at += part.length;
          }
          this.#onHeaderBlock(id, block, c.endStream);
        }
        return;
      }
      case FRAME.RST_STREAM: {
        const s = this.streams.get(id);
        if (s !== undefined) {
          this.#release(s);
          if (s.calling && !s.orphaned) {
            s.orphaned = true;
            this.#orphans++;
          }
        }
        this.streams.delete(id);
        return;
      }
      case FRAME.SETTINGS:
        if (id !== 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "SETTINGS on a stream");
        if (flags & FLAG.ACK) return;
        if (payload.length % 6 !== 0) {
          throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "bad SETTINGS length");
        }
        for (let i = 0; i < payload.length; i += 6) {
          const key = (payload[i]! << 8) | payload[i + 1]!;
          const value = ((payload[i + 2]! << 24) >>> 0) + (payload[i + 3]! << 16) +
            (payload[i + 4]! << 8) + payload[i + 5]!;
          if (key === 4) {
            if (value > MAX_WINDOW) {
              throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, "window too large");
            }
            const delta = value - this.#peerInitialWindow;
            this.#peerInitialWindow = value;
            for (const s of this.streams.values()) {
              s.sendWindow += delta;
              if (s.sendWindow > MAX_WINDOW) {
                throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, "stream window overflow");
              }
            }
          } else if (key === 5) {
            if (value < 16_384 || value > 16_777_215) {
              throw new ConnectionError(ERROR.PROTOCOL_ERROR, "bad MAX_FRAME_SIZE");
            }
            this.#peerMaxFrame = value;
          }
        }
        this.#frame(FRAME.SETTINGS, FLAG.ACK, 0, new Uint8Array(0));
        this.#drainPending();
        return;
      case FRAME.PING:
        if (payload.length !== 8) throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "bad PING");
        if (!(flags & FLAG.ACK)) this.#frame(FRAME.PING, FLAG.ACK, 0, payload.slice());
        return;
      case FRAME.GOAWAY:
        this.#goingAway = true;
        if (this.streams.size === 0) this.closed = true;
        return;
      case FRAME.WINDOW_UPDATE: {
        if (payload.length !== 4) {
          throw new ConnectionError(ERROR.FRAME_SIZE_ERROR, "bad WINDOW_UPDATE");
        }
        const increment = (((payload[0]! & 0x7f) << 24) >>> 0) + (payload[1]! << 16) +
          (payload[2]! << 8) + payload[3]!;
        if (id === 0) {
          if (increment === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "zero increment");
          this.#connSendWindow += increment;
          if (this.#connSendWindow > MAX_WINDOW) {
            throw new ConnectionError(ERROR.FLOW_CONTROL_ERROR, "connection window overflow");
          }
        } else {
          const s = this.streams.get(id);
          if (s !== undefined) {
            s.sendWindow += increment;
            if (increment === 0 || s.sendWindow > MAX_WINDOW) {
              // A stream error: that stream ends, the connection goes on.
              this.#release(s);
              const code = increment === 0 ? ERROR.PROTOCOL_ERROR : ERROR.FLOW_CONTROL_ERROR;
              this.#frame(FRAME.RST_STREAM, 0, id, u32(code));
              this.streams.delete(id);
              return;
            }
          }
        }
        this.#drainPending();
        return;
      }
      case FRAME.PUSH_PROMISE:
        throw new ConnectionError(ERROR.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      default:
        return; // PRIORITY and unknown frame types are ignored
    }
  }

  #unpad(flags: number, payload: Uint8Array): Uint8Array {
    if (!(flags & FLAG.PADDED)) return payload;
    if (payload.length < 1) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "bad padding");
    const pad = payload[0]!;
    if (pad >= payload.length) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "bad padding");
    return payload.subarray(1, payload.length - pad);
  }

  #onData(flags: number, id: number, payload: Uint8Array): void {
    if (id === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "DATA on stream 0");
    this.#received += payload.length;
    if (this.#received >= CONNECTION_WINDOW / 2) {
      this.#frame(FRAME.WINDOW_UPDATE, 0, 0, u32(this.#received));
      this.#received = 0;
    }
    const s = this.streams.get(id);
    if (s === undefined || s.answered) return; // reset, or answered early: ignore the rest
    const data = this.#unpad(flags, payload);
    s.size += data.length;
    if (s.size > 5 + MAX_MESSAGE_BYTES) {
      this.#methods.count(s.path, GRPC_STATUS.RESOURCE_EXHAUSTED);
      this.#answerError(s, GRPC_STATUS.RESOURCE_EXHAUSTED, "request message too large");
      return;
    }
    if (data.length > 0) {
      this.#buffered += data.length;
      if (this.#buffered > MAX_CONNECTION_BUFFERED) {
        throw new ConnectionError(ERROR.ENHANCE_YOUR_CALM, "too many request bytes held");
      }
      s.chunks.push(data.slice());
    }
    if (flags & FLAG.END_STREAM) {
      s.remoteEnded = true;
      this.#dispatch(s);
    }
  }

  #onHeaders(flags: number, id: number, payload: Uint8Array): void {
    if (id === 0) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "HEADERS on stream 0");
    let fragment = this.#unpad(flags, payload);
    if (flags & FLAG.PRIORITY) {
      if (fragment.length < 5) throw new ConnectionError(ERROR.PROTOCOL_ERROR, "bad priority");
      fragment = fragment.subarray(5);
    }
    const endStream = (flags & FLAG.END_STREAM) !== 0;
    if (!(flags & FLAG.END_HEADERS)) {
      this.#continuation = {
        stream: id,
        endStream,
        parts: [fragment.slice()],
        size: fragment.length,
      };
      return;
    }
    this.#onHeaderBlock(id, fragment, endStream);
  }

  #onHeaderBlock(id: number, block: Uint8Array, endStream: boolean): void {
    // Decoded whatever becomes of the stream: the dynamic table is the connection's.
    const fields = this.#decoder.decode(block);
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      // Trailers from the client: the end of its side.
      if (endStream && !existing.answered) {
        existing.remoteEnded = true;
        this.#dispatch(existing);
      }
      return;
    }
    if (id % 2 === 0 || id <= this.#lastStream) {
      if (id <= this.#lastStream) return; // a closed stream: ignore
      throw new ConnectionError(ERROR.PROTOCOL_ERROR, "bad stream id");
    }
    this.#lastStream = id;
    if (this.#goingAway) return;
    // Calls whose stream was reset still count: a rapid reset cannot pile up calls in flight.
    if (this.streams.size + this.#orphans >= MAX_CONCURRENT_STREAMS) {
      this.#frame(FRAME.RST_STREAM, 0, id, u32(ERROR.REFUSED_STREAM));
      return;
    }
    let method: string | undefined;
    let path: string | undefined;
    let contentType = "";
    let encoding: string | undefined;
    for (const [name, value] of fields) {
      if (name === ":method") method = value;
      else if (name === ":path") path = value;
      else if (name === "content-type") contentType = value;
      else if (name === "grpc-encoding") encoding = value;
    }
    const s: Stream = {
      id,
      path,
      encoding,
      chunks: [],
      size: 0,
      remoteEnded: endStream,
      answered: false,
      sendWindow: this.#peerInitialWindow,
      pending: undefined,
      startedAt: Date.now(),
      calling: false,
      orphaned: false,
    };
    this.streams.set(id, s);
    if (method !== "POST" || !contentType.startsWith("application/grpc")) {
      s.answered = true;
      this.#headers(id, NOT_GRPC, true);
      this.#finish(s);
      return;
    }
    if (!this.#methods.serves(path)) {
      this.#methods.count(path, GRPC_STATUS.UNIMPLEMENTED);
      this.#answerError(s, GRPC_STATUS.UNIMPLEMENTED, `unknown method ${path}`);
      return;
    }
    if (endStream) this.#dispatch(s);
  }

  /** Forgets the request bytes `s` holds. */
  #release(s: Stream): void {
    for (const chunk of s.chunks) this.#buffered -= chunk.length;
    s.chunks = [];
  }

  #dispatch(s: Stream): void {
    s.answered = true;
    let body: Uint8Array;
    if (s.chunks.length === 1) body = s.chunks[0]!;
    else {
      body = new Uint8Array(s.size);
      let at = 0;
      for (const chunk of s.chunks) {
        body.set(chunk, at);
        at += chunk.length;
      }
    }
    this.#release(s);
    s.calling = true;
    this.#methods.call(s.path, body, s.encoding).then((outcome) => {
      s.calling = false;
      if (s.orphaned) {
        s.orphaned = false;
        this.#orphans--;
      }
      if (this.closed || this.streams.get(s.id) !== s) return; // reset or gone meanwhile
      if (outcome.frame === undefined) {
        this.#headers(s.id, errorHeaders(outcome.code, outcome.message), true);
        this.#finish(s);
        return;
      }
      this.#headers(s.id, OK_HEADERS, false);
      s.pending = { data: outcome.frame, trailers: OK_TRAILERS };
      this.#sendPending(s);
    }).catch(() => this.destroy());
  }

  #answerError(s: Stream, code: number, message: string): void {
    s.answered = true;
    this.#release(s);
    this.#headers(s.id, errorHeaders(code, message), true);
    this.#finish(s);
  }

  /** Sends what of `s`'s answer the windows allow; the trailers once the data is out. */
  #sendPending(s: Stream): void {
    const p = s.pending;
    if (p === undefined) return;
    while (p.data.length > 0) {
      const size = Math.min(p.data.length, this.#connSendWindow, s.sendWindow, this.#peerMaxFrame);
      if (size <= 0) return; // wait for WINDOW_UPDATE
      this.#frame(FRAME.DATA, 0, s.id, p.data.subarray(0, size));
      p.data = p.data.subarray(size);
      this.#connSendWindow -= size;
      s.sendWindow -= size;
    }
    this.#headers(s.id, p.trailers, true);
    s.pending = undefined;
    this.#finish(s);
  }

  #drainPending(): void {
    for (const s of this.streams.values()) {
      if (s.pending !== undefined) this.#sendPending(s);
    }
  }

  /** Our side ended: forget the stream (resetting it if the client is still sending). */
  #finish(s: Stream): void {
    if (!s.remoteEnded) this.#frame(FRAME.RST_STREAM, 0, s.id, u32(ERROR.NO_ERROR));
    this.streams.delete(s.id);
    if (this.#goingAway && this.streams.size === 0) this.#flushThenClose();
  }

  #headers(id: number, block: Uint8Array, endStream: boolean): void {
    this.#frame(FRAME.HEADERS, FLAG.END_HEADERS | (endStream ? FLAG.END_STREAM : 0), id, block);
  }

  #frame(type: number, flags: number, stream: number, payload: Uint8Array): void {
    if (this.closed) return;
    this.#out.push(frameHeader(payload.length, type, flags, stream), payload);
    this.#unsent += 9 + payload.length;
    if (this.#unsent > MAX_CONNECTION_UNSENT) {
      // The peer sends but does not read: holding its answers would grow without bound.
      this.#out = [];
      this.destroy();
      return;
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#out.length === 0 || this.closed) return;
    let size = 0;
    for (const part of this.#out) size += part.length;
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const part of this.#out) {
      bytes.set(part, at);
      at += part.length;
    }
    this.#out = [];
    this.#writing = this.#writing.then(async () => {
      let written = 0;
      while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
      this.#unsent -= bytes.length;
    }).catch(() => {
      this.closed = true;
    });
  }

  #flushThenClose(): void {
    this.#flush();
    this.#writing.then(() => {
      this.closed = true;
      try {
        this.#conn.close();
      } catch {
        // Already closed.
      }
    });
  }

  /** Sends GOAWAY with `code` and closes once in-flight calls are answered (at once on an error). */
  goAway(code: number): void {
    if (this.closed) return;
    this.#frame(FRAME.GOAWAY, 0, 0, Uint8Array.of(...u32(this.#lastStream), ...u32(code)));
    this.#goingAway = true;
    if (code !== ERROR.NO_ERROR || this.streams.size === 0) this.#flushThenClose();
  }

  /** Cancels the streams whose request has not arrived within `timeoutMs`. */
  expire(now: number, timeoutMs: number): void {
    for (const s of this.streams.values()) {
      if (!s.answered && now - s.startedAt > timeoutMs) {
        this.#release(s);
        this.#frame(FRAME.RST_STREAM, 0, s.id, u32(ERROR.CANCEL));
        this.streams.delete(s.id);
      }
    }
  }

  async #close(): Promise<void> {
    this.#flush();
    await this.#writing;
    this.closed = true;
    this.streams.clear();
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    this.onClose();
  }

  /** Closes at once. */
  destroy(): void {
    this.closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Starts the gRPC server on this transport; resolves once it listens. */
export function startH2GrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const { logger } = options;
  const methods = createGrpcMethods(options);
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
  } catch (error) {
    return Promise.reject(error);
  }
  const connections = new Set<Connection>();
  let closing = false;
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closing) return;
        logger.warn("grpc_accept_failed", {
          message: error instanceof Error ? error.message : String(error),
        });
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      try {
        conn.setNoDelay(true);
      } catch {
        // Not a TCP socket option this platform has: no matter.
      }
      const connection = new Connection(conn, methods, () => connections.delete(connection));
      connections.add(connection);
    }
  })();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const c of connections) c.expire(now, options.bodyTimeoutMs);
  }, Math.min(1000, options.bodyTimeoutMs));
  const port = (listener.addr as Deno.NetAddr).port;
  logger.info("grpc_listening", { hostname: options.hostname, port });
  let closed: Promise<void> | undefined;
  return Promise.resolve({
    port,
    close(graceMs: number) {
      closed ??= (async () => {
        closing = true;
        clearInterval(sweep);
        try {
          listener.close();
        } catch {
          // Already closed.
        }
        await accepting;
        for (const c of connections) c.goAway(ERROR.NO_ERROR);
        const all = Promise.all([...connections].map((c) => c.done));
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([all, new Promise((r) => timer = setTimeout(r, graceMs))]);
        clearTimeout(timer);
        for (const c of connections) c.destroy();
        await Promise.race([all, new Promise((r) => setTimeout(r, 100))]);
      })();
      return closed;
    },
  });
}
