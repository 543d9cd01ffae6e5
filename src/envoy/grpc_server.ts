/**
 * The gRPC methods of the Envoy protocol ({@linkcode createGrpcMethods}, shared by both
 * transports): `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit` and
 * `grpc.health.v1.Health/Check` (`Watch` and anything else answer UNIMPLEMENTED), with the
 * hand-written codec of `messages.ts`; and a lean server for them on `node:http2`
 * ({@linkcode startGrpcServer}), the measured alternative to the node's own HTTP/2 transport
 * (`h2_server.ts`, which the node runs: `node:http2` costs several times more CPU per call, see
 * `bench/RESULTS.md`).
 *
 * Unary calls only: one length-prefixed message in (at most {@linkcode MAX_MESSAGE_BYTES}, not
 * compressed), one out, the status in the trailers; an error before the answer is a
 * trailers-only response. A client that resets a stream or drops the connection mid-call must never
 * take the node down: every write first checks the stream is still open and is guarded, and every
 * session and stream has an error listener (`node:http2` can emit `end` on a stream already
 * destroyed, and a `respond()` there throws).
 *
 * @module
 */
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { StoreUnavailableError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import {
  decodeHealthCheckRequest,
  decodeRlsRequest,
  encodeHealthCheckResponse,
  encodeRlsResponse,
  HEALTH_STATUS,
} from "./messages.ts";
import { RlsInvalidArgumentError, type ShouldRateLimit } from "./service.ts";
import { WireError } from "./wire.ts";

/** gRPC status codes the server answers with. */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

const CODE_NAMES = new Map<number, string>(
  Object.entries(GRPC_STATUS).map(([name, code]) => [code, name]),
);

/** Largest request message, in bytes (Envoy's are a few hundred). */
export const MAX_MESSAGE_BYTES = 64 * 1024;

/** The full method names served. */
export const SHOULD_RATE_LIMIT_PATH =
  "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";
/** The full method name of the health service's `Check`. */
export const HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check";
/** The service name the health service knows besides the server's (`""`). */
export const RLS_SERVICE_NAME = "envoy.service.ratelimit.v3.RateLimitService";

/** A call's failure, answered as a gRPC status. */
class GrpcError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = "GrpcError";
  }
}

/** Options for {@linkcode startGrpcServer}. */
export interface GrpcServerOptions {
  /** Interface to listen on. */
  hostname: string;
  /** Port to listen on; 0 picks a free one (see {@linkcode GrpcServer.port}). */
  port: number;
  /** The decisions of `ShouldRateLimit`. */
  shouldRateLimit: ShouldRateLimit;
  /** Whether the health service answers SERVING (else NOT_SERVING, e.g. while draining). */
  serving: () => boolean;
  /** Longest a client may take to send its request message, in ms; then the stream is cancelled. */
  bodyTimeoutMs: number;
  /** Where `grpc_listening` and unexpected failures are logged. */
  logger: Logger;
  /** Counts answered calls by method and status. @default {not counted} */
  metrics?: Pick<Metrics, "grpcCalls">;
}

/** A listening gRPC server. */
export interface GrpcServer {
  /** The port it listens on. */
  readonly port: number;
  /**
   * Stops accepting connections, lets calls in flight finish (each connection gets a GOAWAY) for up
   * to `graceMs`, then closes what is left.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * A method: the request message in, the answer out with 5 free bytes before it (the frame header,
 * filled by the server, so the answer is framed without a copy).
 */
type Handler = (message: Uint8Array) => Promise<Uint8Array> | Uint8Array;

/** A message with 5 free bytes before it, as handlers answer. */
function withFrameRoom(message: Uint8Array): Uint8Array {
  const framed = new Uint8Array(5 + message.length);
  framed.set(message, 5);
  return framed;
}

const GRPC_HEADERS = { ":status": 200, "content-type": "application/grpc" };

/** `grpc-message` is percent-encoded: anything outside printable ASCII, and `%`. */
function grpcMessage(text: string): string {
  return encodeURIComponent(text).replace(/%20/g, " ");
}

function isOpen(stream: http2.ServerHttp2Stream): boolean {
  return !stream.destroyed && !stream.closed && !stream.headersSent;
}

function sendError(stream: http2.ServerHttp2Stream, code: number, message: string): void {
  if (!isOpen(stream)) return;
  try {
    stream.respond({
      ...GRPC_HEADERS,
      "grpc-status": String(code),
      "grpc-message": grpcMessage(message),
    }, { endStream: true });
  } catch {
    // The stream closed between the check and the write: nobody is listening any more.
  }
}

/** Sends `frame` (a framed message) as the call's answer, then status OK. */
function sendMessage(stream: http2.ServerHttp2Stream, frame: Uint8Array): void {
  if (!isOpen(stream)) return;
  try {
    stream.respond(GRPC_HEADERS, { waitForTrailers: true });
    stream.once("wantTrailers", () => {
      try {
        if (!stream.destroyed) stream.sendTrailers({ "grpc-status": "0" });
      } catch {
        // Closed meanwhile.
      }
    });
    stream.end(frame);
  } catch {
    // Closed meanwhile.
  }
}

/** The one message of a unary call's body. */
function unframe(body: Uint8Array, encoding: string | undefined): Uint8Array {
  if (body.length < 5) throw new GrpcError(GRPC_STATUS.INTERNAL, "expected one request message");
  const length = new DataView(body.buffer, body.byteOffset, body.length).getUint32(1);
  if (body.length !== 5 + length) {
    throw new GrpcError(GRPC_STATUS.INTERNAL, "expected exactly one request message");
  }
  if (body[0] !== 0) {
    throw new GrpcError(
      encoding === undefined || encoding === "identity"
        ? GRPC_STATUS.INTERNAL
        : GRPC_STATUS.UNIMPLEMENTED,
      "compressed messages are not supported (grpc-accept-encoding: identity)",
    );
  }
  return body.subarray(5);
}

function toGrpcError(error: unknown): GrpcError | undefined {
  if (error instanceof GrpcError) return error;
  if (error instanceof RlsInvalidArgumentError) {
    return new GrpcError(GRPC_STATUS.INVALID_ARGUMENT, error.message);
  }
  if (error instanceof WireError) {
    return new GrpcError(GRPC_STATUS.INTERNAL, `cannot decode the request: ${error.message}`);
  }
  if (error instanceof StoreUnavailableError) {
    return new GrpcError(GRPC_STATUS.UNAVAILABLE, "the rate limit store is unavailable");
  }
  return undefined;
}

/** A call's outcome: the framed answer (status OK), or an error status and its message. */
export interface GrpcOutcome {
  /** The gRPC status: 0 (OK) with `frame`, else an error with `message`. */
  code: number;
  /** The framed answer message, when OK. */
  frame: Uint8Array | undefined;
  /** The error message, when not OK. */
  message: string;
}

/** What a transport needs of the methods: whether a path is served, and a call's outcome. */
export interface GrpcMethods {
  /** Whether `path` names a served method. */
  serves(path: string | undefined): boolean;
  /** Decides one unary call (`body` = its length-prefixed message); never rejects. */
  call(
    path: string | undefined,
    body: Uint8Array,
    encoding: string | undefined,
  ): Promise<GrpcOutcome>;
  /** Counts an answer the transport gave by itself (unknown method, message too large). */
  count(path: string | undefined, code: number): void;
}

/** The methods served, transport-free: shared by the `node:http2` server and `h2_server.ts`. */
export function createGrpcMethods(
  options: Pick<GrpcServerOptions, "shouldRateLimit" | "serving" | "logger" | "metrics">,
): GrpcMethods {
  const { logger } = options;
  const handlers = new Map<string, Handler>([
    [SHOULD_RATE_LIMIT_PATH, async (message) => {
      const response = await options.shouldRateLimit(decodeRlsRequest(message));
      return encodeRlsResponse(response, 5);
    }],
    [HEALTH_CHECK_PATH, (message) => {
      const { service } = decodeHealthCheckRequest(message);
      if (service !== "" && service !== RLS_SERVICE_NAME) {
        throw new GrpcError(GRPC_STATUS.NOT_FOUND, `unknown service ${JSON.stringify(service)}`);
      }
      return withFrameRoom(encodeHealthCheckResponse(
        options.serving() ? HEALTH_STATUS.SERVING : HEALTH_STATUS.NOT_SERVING,
      ));
    }],
  ]);
  const calls = options.metrics?.grpcCalls;
  const methodLabel = (path: string | undefined) =>
    path === SHOULD_RATE_LIMIT_PATH
      ? "ShouldRateLimit"
      : path === HEALTH_CHECK_PATH
      ? "Health/Check"
      : "unknown";
  const count = (path: string | undefined, code: number) =>
    calls?.labels({ method: methodLabel(path), code: CODE_NAMES.get(code) ?? String(code) }).inc();
  return {
    serves: (path) => handlers.has(path ?? ""),
    count,
    async call(path, body, encoding) {
      const handler = handlers.get(path ?? "");
      try {
        if (handler === undefined) {
          throw new GrpcError(GRPC_STATUS.UNIMPLEMENTED, `unknown method ${path}`);
        }
        const frame = await handler(unframe(body, encoding));
        const length = frame.length - 5;
        frame[0] = 0;
        frame[1] = length >>> 24;
        frame[2] = (length >>> 16) & 0xff;
        frame[3] = (length >>> 8) & 0xff;
        frame[4] = length & 0xff;
        count(path, GRPC_STATUS.OK);
        return { code: 0, frame, message: "" };
      } catch (error) {
        const grpc = toGrpcError(error);
        const code = grpc?.code ?? GRPC_STATUS.INTERNAL;
        count(path, code);
        if (grpc === undefined) {
          logger.error("grpc_call_failed", {
            method: path,
            message: error instanceof Error ? error.message : String(error),
          });
        }
        return { code, frame: undefined, message: grpc?.message ?? "internal error" };
      }
    },
  };
}

/** Starts the gRPC server; resolves once it listens, rejects when it cannot (e.g. port in use). */
export function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const { logger } = options;
  const methods = createGrpcMethods(options);
  const count = methods.count;

  const handle = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on("error", () => {});
    const contentType = headers["content-type"] ?? "";
    if (headers[":method"] !== "POST" || !contentType.startsWith("application/grpc")) {
      if (!isOpen(stream)) return;
      try {
        stream.respond({ ":status": 415, "content-type": "text/plain" });
        stream.end("expected a gRPC call (POST, content-type application/grpc)\n");
      } catch {
        // Closed meanwhile.
      }
      return;
    }
    const path = headers[":path"];
    if (!methods.serves(path)) {
      count(path, GRPC_STATUS.UNIMPLEMENTED);
      sendError(stream, GRPC_STATUS.UNIMPLEMENTED, `unknown method ${path}`);
      return;
    }
    const encoding = headers["grpc-encoding"] as string | undefined;
    const chunks: Uint8Array[] = [];
    let size = 0;
    let failed = false;
    stream.setTimeout(options.bodyTimeoutMs, () => {
      failed = true;
      try {
        stream.close(http2.constants.NGHTTP2_CANCEL);
      } catch {
        // Already closed.
      }
    });
    stream.on("data", (chunk: Uint8Array) => {
      if (failed) return;
      size += chunk.length;
      if (size > 5 + MAX_MESSAGE_BYTES) {
        failed = true;
        count(path, GRPC_STATUS.RESOURCE_EXHAUSTED);
        sendError(
          stream,
          GRPC_STATUS.RESOURCE_EXHAUSTED,
          `request message larger than ${MAX_MESSAGE_BYTES} bytes`,
        );
        return;
      }
      chunks.push(chunk);
    });
    stream.on("end", () => {
      if (failed || !isOpen(stream)) return;
      stream.setTimeout(0);
      const body = chunks.length === 1 ? chunks[0]! : concat(chunks, size);
      methods.call(path, body, encoding).then((outcome) => {
        if (outcome.frame !== undefined) sendMessage(stream, outcome.frame);
        else sendError(stream, outcome.code, outcome.message);
      });
    });
  };

  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.on("error", () => {});
    session.on("close", () => sessions.delete(session));
  });
  server.on("sessionError", () => {});
  server.on("stream", (stream, headers) => {
    try {
      handle(stream as http2.ServerHttp2Stream, headers);
    } catch (error) {
      logger.error("grpc_stream_failed", {
        message: error instanceof Error ? error.message : String(error),
      });
      try {
        stream.destroy();
      } catch {
        // Already gone.
      }
    }
  });

  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen(options.port, options.hostname, () => {
      server.off("error", onError);
      server.on("error", (error) => {
        logger.error("grpc_server_error", { message: error.message });
      });
      const port = (server.address() as AddressInfo).port;
      logger.info("grpc_listening", { hostname: options.hostname, port });
      let closing: Promise<void> | undefined;
      resolve({
        port,
        close(graceMs) {
          closing ??= new Promise<void>((done) => {
            server.close();
            const timer = setTimeout(() => {
              for (const session of sessions) session.destroy();
              done();
            }, graceMs);
            const finish = () => {
              if (sessions.size > 0) return;
              clearTimeout(timer);
              done();
            };
            for (const session of sessions) {
              session.once("close", () => queueMicrotask(finish));
              try {
                session.close();
              } catch {
                session.destroy();
              }
            }
            finish();
          });
          return closing;
        },
      });
    });
  });
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
