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

/** The `WWW-Authenticate` challenge of every refusal, with an RFC 6750 error code when given. */
function challenge(error?: "invalid_request" | "invalid_token"): Record<string, string> {
  const value = `Bearer realm="ratelimiter"`;
  return { "WWW-Authenticate": error === undefined ? value : `${value}, error="${error}"` };
}

/** RFC 6750 section 3: no credentials, or another scheme than Bearer: no error code. */
function noCredentials(): ApiError {
  return new ApiError(
    401,
    "unauthorized",
    "Missing bearer token: send Authorization: Bearer <RATELIMITER_ADMIN_TOKEN>",
    { headers: challenge() },
  );
}

/** RFC 6750 section 3.1: a Bearer credential that is not one token is a malformed request. */
function malformed(): ApiError {
  return new ApiError(
    400,
    "invalid_request",
    "Malformed Authorization header: expected Bearer followed by one token",
    { headers: challenge("invalid_request") },
  );
}

/**
 * Requires `Authorization: Bearer <token>` on every request that changes state (any method but
 * GET, HEAD and OPTIONS), and on reads too with `readAuth`. Otherwise throws, before the handler
 * runs (so nothing changes), an {@linkcode ApiError} answered by the app's error mapping with a
 * `WWW-Authenticate: Bearer realm="ratelimiter"` challenge, as RFC 6750 section 3 says: 401
 * `unauthorized` with no error code when the request has no credentials or another scheme than
 * Bearer; 400 `invalid_request` with `error="invalid_request"` when the Bearer credential is not
 * one token; 401 `unauthorized` with `error="invalid_token"` when the token is wrong.
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
    if (header === undefined || !/^Bearer(?: |$)/i.test(header)) throw noCredentials();
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (match === null) throw malformed();
    if (!timingSafeEqual(await sha256(match[1]!), await expected)) {
      throw new ApiError(401, "unauthorized", "Invalid bearer token", {
        headers: challenge("invalid_token"),
      });
    }
    await next();
  };
}
