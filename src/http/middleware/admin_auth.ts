import type { MiddlewareHandler } from "hono";
import { ApiError } from "../../errors.ts";

/** Options for {@linkcode adminAuth}. */
export interface AdminAuthOptions {
  /** The bearer token; `undefined` leaves the API open. @default {undefined} */
  token?: string | undefined;
  /** Whether reads (GET, HEAD) need the token too. @default {false} */
  readAuth?: boolean;
}

/** Methods that change nothing; they need the token only with `readAuth`. */
const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const encoder = new TextEncoder();

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** Compares two equal-length byte arrays in time independent of where they differ. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function unauthorized(message: string, error: "invalid_request" | "invalid_token"): ApiError {
  return new ApiError(401, "unauthorized", message, {
    headers: { "WWW-Authenticate": `Bearer realm="ratelimiter", error="${error}"` },
  });
}

/**
 * Requires `Authorization: Bearer <token>` on every request that changes state (any method but
 * GET, HEAD and OPTIONS), and on reads too with `readAuth`. Otherwise throws the 401
 * `unauthorized` {@linkcode ApiError} with `WWW-Authenticate: Bearer` (answered by the app's error
 * mapping) before the handler runs, so nothing changes.
 *
 * The token is compared as SHA-256 digests with a constant-time loop: the time taken reveals
 * neither the token's length nor how much of a guess was right.
 */
export function adminAuth(options: AdminAuthOptions = {}): MiddlewareHandler {
  const token = options.token;
  const readAuth = options.readAuth ?? false;
  const expected = token === undefined ? undefined : sha256(token);
  return async function adminAuth(c, next) {
    if (expected === undefined || (!readAuth && READ_METHODS.has(c.req.method))) {
      await next();
      return;
    }
    const header = c.req.header("authorization");
    const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
    if (match === null) {
      throw unauthorized(
        "Missing bearer token: send Authorization: Bearer <RATELIMITER_ADMIN_TOKEN>",
        "invalid_request",
      );
    }
    if (!timingSafeEqual(await sha256(match[1]!), await expected)) {
      throw unauthorized("Invalid bearer token", "invalid_token");
    }
    await next();
  };
}
