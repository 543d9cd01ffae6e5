/**
 * Reading a request body: JSON only, with a size cap and a deadline. The one body reader of every
 * route, the `POST /check` fast path included.
 *
 * @module
 */
import type { Context } from "hono";
import { ApiError } from "../errors.ts";
import { DEFAULT_BODY_TIMEOUT_MS } from "../config.ts";

/** Largest JSON body any route accepts, in bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

declare module "hono" {
  interface ContextVariableMap {
    /** Body deadline of this request in ms, set by the `requestLimits` middleware. */
    bodyTimeoutMs: number;
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Options for {@linkcode readJsonBody}. */
export interface ReadJsonBodyOptions {
  /** Largest accepted body in bytes. @default {MAX_BODY_BYTES} */
  maxBytes?: number;
  /**
   * Longest time to receive the body, in ms.
   * @default {the context's `bodyTimeoutMs`, else DEFAULT_BODY_TIMEOUT_MS}
   */
  timeoutMs?: number;
}

/**
 * Reads and parses a JSON request body with bounded size and time.
 *
 * Throws an {@linkcode ApiError}: 415 for a content type other than JSON, 413 past the size cap
 * (declared or streamed), 408 when the body is too slow, 400 for invalid UTF-8 or JSON.
 */
export function readJsonBody(
  c: Context,
  options: ReadJsonBodyOptions = {},
): Promise<unknown> {
  return readJsonRequest(c.req.raw, {
    maxBytes: options.maxBytes ?? MAX_BODY_BYTES,
    timeoutMs: options.timeoutMs ?? c.get("bodyTimeoutMs") ?? DEFAULT_BODY_TIMEOUT_MS,
  });
}

/**
 * {@linkcode readJsonBody} on a plain `Request`, for a handler that runs outside Hono (the `POST
 * /check` fast path, `check_fast_path.ts`). Same checks, same errors.
 */
export async function readJsonRequest(
  request: Request,
  options: Required<ReadJsonBodyOptions>,
): Promise<unknown> {
  const { maxBytes, timeoutMs } = options;
  const headers = request.headers;
  const type = headers.get("content-type");
  if (
    type !== "application/json" &&
    (type === null || !/^application\/json\s*(;|$)/i.test(type.trim()))
  ) {
    throw new ApiError(
      415,
      "unsupported_media_type",
      `Expected Content-Type application/json, received ${JSON.stringify(type ?? "")}`,
    );
  }
  const declared = headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    throw tooLarge(maxBytes);
  }
  const length = declared === null ? undefined : Number(declared);
  const bytes = await readLimited(
    request,
    maxBytes,
    timeoutMs,
    length !== undefined && Number.isSafeInteger(length) && length >= 0 ? length : undefined,
  );
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new ApiError(400, "invalid_utf8", "Request body is not valid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError(400, "invalid_json", "Request body is not valid JSON", {
      details: { reason: error instanceof Error ? error.message : String(error) },
    });
  }
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, "payload_too_large", `Request body exceeds ${maxBytes} bytes`);
}

/** A body read in progress and when it must have finished. */
interface BodyDeadline {
  at: number;
  expire: () => void;
}

/** Granularity of body deadlines: a slow body gets its 408 at most this late. */
const DEADLINE_SWEEP_MS = 50;
const deadlines = new Set<BodyDeadline>();
let sweeper: ReturnType<typeof setInterval> | undefined;

/**
 * Expires overdue body reads. One shared interval instead of a timer per request: on Deno 2.9
 * `setTimeout` + `clearTimeout` cost about 8 µs, more than reading and parsing a small body. It
 * runs only while reads are pending.
 */
function sweepDeadlines(): void {
  const now = Date.now();
  for (const deadline of deadlines) {
    if (deadline.at <= now) {
      deadlines.delete(deadline);
      deadline.expire();
    }
  }
  if (deadlines.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/** The 408 of a body not received within `timeoutMs`. */
function timedOut(timeoutMs: number): ApiError {
  return new ApiError(408, "request_timeout", `Request body not received within ${timeoutMs} ms`);
}

/** Registers `deadline` with the shared sweeper. */
function watch(deadline: BodyDeadline, timeoutMs: number): void {
  deadlines.add(deadline);
  sweeper ??= setInterval(sweepDeadlines, Math.min(DEADLINE_SWEEP_MS, timeoutMs));
}

function readLimited(
  request: Request,
  maxBytes: number,
  timeoutMs: number,
  declaredBytes: number | undefined,
): Promise<Uint8Array> {
  if (declaredBytes !== undefined) {
    // A declared length (already checked against the cap) bounds the body, so read it in one
    // native call, several times cheaper than pulling the stream chunk by chunk. Do not touch
    // `request.body` before: creating the stream object disables Deno's fast path. One promise
    // settled by whichever comes first, the body or the sweeper, instead of a `Promise.race`
    // against a timeout promise: this runs on every `/check`.
    return new Promise<Uint8Array>((resolve, reject) => {
      const deadline: BodyDeadline = {
        at: Date.now() + timeoutMs,
        expire: () => reject(timedOut(timeoutMs)),
      };
      watch(deadline, timeoutMs);
      request.arrayBuffer().then((buffer) => {
        deadlines.delete(deadline);
        if (buffer.byteLength > maxBytes) reject(tooLarge(maxBytes));
        else resolve(new Uint8Array(buffer));
      }, (error) => {
        deadlines.delete(deadline);
        reject(error);
      });
    });
  }
  return readStream(request, maxBytes, timeoutMs);
}

/** Reads a body of undeclared length chunk by chunk, up to `maxBytes`, within `timeoutMs`. */
async function readStream(request: Request, maxBytes: number, timeoutMs: number) {
  let expire!: () => void;
  const timeout = new Promise<never>((_resolve, reject) => {
    expire = () => reject(timedOut(timeoutMs));
  });
  timeout.catch(() => {}); // Expired after the read finished: nobody waits for it.
  const deadline: BodyDeadline = { at: Date.now() + timeoutMs, expire };
  watch(deadline, timeoutMs);
  const body = request.body;
  if (body === null) {
    deadlines.delete(deadline);
    return new Uint8Array();
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await Promise.race([reader.read(), timeout]);
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw tooLarge(maxBytes);
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  } finally {
    deadlines.delete(deadline);
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
