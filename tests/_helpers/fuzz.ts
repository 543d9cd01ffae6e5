/**
 * Seeded random inputs for fuzz tests: JSON values, request bodies, paths and methods. The same
 * seed gives the same sequence, so a failure is reproduced by rerunning with its seed.
 *
 * @module
 */
import { ALGORITHMS } from "../../src/limiter/types.ts";
import type { Rng } from "./random.ts";

const NUMBERS = [
  0,
  -0,
  1,
  -1,
  5,
  1.5,
  1e21,
  -1e21,
  1e308,
  5e-324,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1_000_000,
  1_000_001,
  2_592_000_000,
  2_592_000_001,
  0.1,
];
const CHARS = [
  "a",
  "z",
  "0",
  ":",
  "{",
  "}",
  "%",
  " ",
  "\u0000",
  "\u001f",
  "é",
  "😀",
  "\ud800",
  "\udc00",
  "\uffff",
  '"',
  "\\",
  "\n",
];
const FIELD_NAMES = [
  "key",
  "limit",
  "window_ms",
  "cost",
  "algorithm",
  "__proto__",
  "constructor",
  "x",
];

/** A random string: short and odd (NUL, lone surrogates, braces) or long. */
export function randomString(rng: Rng): string {
  if (rng.chance(0.05)) return rng.pick(CHARS).repeat(rng.int(1200));
  let s = "";
  const n = rng.int(rng.chance(0.8) ? 12 : 600);
  for (let i = 0; i < n; i++) {
    s += rng.chance(0.7) ? String.fromCharCode(97 + rng.int(26)) : rng.pick(CHARS);
  }
  return s;
}

/** A random JSON value of bounded depth. */
export function randomJson(rng: Rng, depth = 0): unknown {
  const kind = rng.int(depth > 3 ? 4 : 6);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.pick(NUMBERS) : (rng.next() - 0.5) * 10 ** rng.int(20);
    case 3:
      return randomString(rng);
    case 4:
      return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) {
        object[rng.chance(0.6) ? rng.pick(FIELD_NAMES) : randomString(rng)] = randomJson(
          rng,
          depth + 1,
        );
      }
      return object;
    }
  }
}

/** A body shaped like a check (`key`, `limit`, `window_ms`) with random, often valid, values. */
export function randomCheckBody(rng: Rng): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (rng.chance(0.9)) body.key = rng.chance(0.7) ? `k${rng.int(50)}` : randomJson(rng, 3);
  if (rng.chance(0.6)) body.limit = rng.chance(0.7) ? 1 + rng.int(20) : randomJson(rng, 3);
  if (rng.chance(0.5)) body.window_ms = rng.chance(0.7) ? 1 + rng.int(60_000) : randomJson(rng, 3);
  if (rng.chance(0.1)) body[rng.pick(FIELD_NAMES)] = randomJson(rng, 3);
  return body;
}

/** Random bytes, sometimes starting like JSON. */
export function randomBytes(rng: Rng): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(rng.int(rng.chance(0.9) ? 200 : 5000));
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
  if (bytes.length > 0 && rng.chance(0.5)) bytes[0] = 0x7b;
  return bytes;
}

/** Valid JSON text with a few bytes flipped, inserted or dropped. */
export function mutate(rng: Rng, text: string): Uint8Array<ArrayBuffer> {
  const bytes = [...new TextEncoder().encode(text)];
  for (let i = 1 + rng.int(4); i > 0; i--) {
    const at = rng.int(bytes.length + 1);
    const op = rng.int(3);
    if (op === 0 && at < bytes.length) bytes[at] = rng.int(256);
    else if (op === 1) bytes.splice(at, 0, rng.pick([0x22, 0x5c, 0x7b, 0x7d, 0x00, 0xff, 0x2c]));
    else bytes.splice(at, 1);
  }
  return new Uint8Array(bytes);
}

/** Deeply nested JSON arrays or objects, `depth` levels. */
export function nested(rng: Rng, depth: number): string {
  return rng.chance(0.5)
    ? "[".repeat(depth) + "]".repeat(depth)
    : '{"key":'.repeat(depth) + '"k"' + "}".repeat(depth);
}

const PATHS = ["/check", "/check", "/check", "/health", "/ready", "/metrics", "/", "/api/counters"];

/** A path: a known route most of the time, else random segments with random escapes. */
export function randomPath(rng: Rng): string {
  let path = rng.pick(PATHS);
  if (rng.chance(0.15)) {
    path = "";
    for (let i = 1 + rng.int(4); i > 0; i--) {
      path += "/" +
        encodeURIComponent(randomString(rng).slice(0, 40).toWellFormed()).replace(/%2F/g, "/");
    }
    if (rng.chance(0.3)) path += `%${rng.int(256).toString(16).padStart(2, "0")}`;
  }
  if (rng.chance(0.1)) {
    path += `?${encodeURIComponent(randomString(rng).slice(0, 100).toWellFormed())}=1`;
  }
  return path;
}

/** A method, POST most of the time. */
export function randomMethod(rng: Rng): string {
  return rng.chance(0.7)
    ? "POST"
    : rng.pick(["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "FOO"]);
}

/** A content type header value, or undefined for none. */
export function randomContentType(rng: Rng): string | undefined {
  return rng.chance(0.8) ? "application/json" : rng.pick([
    undefined,
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "text/plain",
    "application/jsonx",
    "multipart/form-data; boundary=x",
    "*/*",
  ]);
}

/** A random request body: check-shaped JSON, any JSON, mutated JSON, random bytes or deep nesting. */
export function randomBody(rng: Rng): string | Uint8Array<ArrayBuffer> {
  const kind = rng.int(10);
  if (kind < 4) return JSON.stringify(randomCheckBody(rng));
  if (kind < 6) return JSON.stringify(randomJson(rng));
  if (kind < 8) return mutate(rng, JSON.stringify(randomCheckBody(rng)));
  if (kind < 9) return randomBytes(rng);
  return nested(rng, 1 + rng.int(20_000));
}

// --- Issue 9 attack inputs -------------------------------------------------------------------
// Cheap requests that once stalled Redis, bloated memory, evicted other clients' counters or
// erased history. Fuzz suites draw them so they stay fixed; properties on them must hold whatever
// the limits policy answers (200, 429 or 400), so they never assert an exact status.

/** Largest limit, cost, burst or refill rate the schema accepts. */
const HUGE = [1_000_000, 999_999, 500_000];
/** Windows that make the most work (1 ms) or hold state longest (30 days, the schema's maximum). */
const ATTACK_WINDOWS = [1, 2, 10, 2_592_000_000, 2_591_999_999];

/** One limit of an attack: huge limit and cost with a tiny or a 30-day window, any algorithm. */
export function randomAttackLimit(rng: Rng, key: string): Record<string, unknown> {
  const algorithm = rng.chance(0.5) ? "sliding_log" : rng.pick(ALGORITHMS);
  const limit = rng.pick(HUGE);
  const item: Record<string, unknown> = {
    key,
    limit,
    cost: rng.chance(0.7) ? limit : rng.pick(HUGE),
    window_ms: rng.pick(ATTACK_WINDOWS),
    algorithm,
  };
  if (algorithm === "gcra" && rng.chance(0.5)) item.burst = rng.pick(HUGE);
  if (algorithm === "token_bucket" && rng.chance(0.5)) item.refill_rate = rng.pick(HUGE);
  return item;
}

/** A key for attack traffic: `atk0`..`atk9`, never a key a test watches. */
export function attackKey(rng: Rng): string {
  return `atk${rng.int(10)}`;
}

/** A `POST /check` body: one attack limit, or 16 of them (the most one check may carry). */
export function randomAttackCheck(rng: Rng): Record<string, unknown> {
  if (rng.chance(0.5)) return randomAttackLimit(rng, attackKey(rng));
  return {
    limits: Array.from({ length: 16 }, (_, i) => randomAttackLimit(rng, `atk${i}:${rng.int(4)}`)),
  };
}

/**
 * A `POST /check/batch` body: a large batch (500 to 1,000 ordinary checks of one key limited to 1
 * per hour) or a smaller one (up to 20) of single-limit attack checks.
 */
export function randomAttackBatch(rng: Rng): Record<string, unknown> {
  if (rng.chance(0.5)) {
    const key = attackKey(rng);
    return {
      checks: Array.from(
        { length: 500 + rng.int(501) },
        () => ({ key, limit: 1, window_ms: 3_600_000, algorithm: rng.pick(ALGORITHMS) }),
      ),
    };
  }
  return {
    checks: Array.from({ length: 1 + rng.int(20) }, () => randomAttackLimit(rng, attackKey(rng))),
  };
}

/** A peek at `key` (`GET /check/{key}`) with `window_ms=1` and a random algorithm and limit. */
export function randomAttackPeek(rng: Rng, key: string): string {
  const params = new URLSearchParams({ window_ms: String(rng.pick([1, 1, 2])) });
  // Half the time the default algorithm (sliding_log), whose history a peek once pruned.
  if (rng.chance(0.5)) params.set("algorithm", rng.pick(ALGORITHMS));
  if (rng.chance(0.5)) params.set("limit", String(rng.pick([1, 2, ...HUGE])));
  return `/check/${encodeURIComponent(key)}?${params}`;
}

/**
 * Cursors no store issues: past 64 bits, past `Number.MAX_SAFE_INTEGER`, negative, hex, signed,
 * with spaces, or many digits.
 */
export const ODD_CURSORS = [
  "99999999999999999999-0",
  "18446744073709551616-0",
  "18446744073709551615-999999999",
  "9007199254740993",
  "99999999999999999999",
  "-1",
  "1-",
  "-0",
  "0x10",
  "1e3",
  "+1",
  " 1",
  "1-0-0",
  "9".repeat(400),
  "%00",
];

/** Keys of admin paths as sent, raw backslashes, `%5C` and dot segments included. */
const ADMIN_PATH_KEYS = [
  "DOMAIN\\alice",
  "DOMAIN%5Calice",
  "a\\b\\c",
  "\\",
  "%5C",
  "..",
  ".",
  "x\\..\\alice",
  "%2E%2E",
  "k%2F1",
  "%E0%A4%A",
  "alice",
];

/** An admin request with an odd path key or cursor: method and raw path (may hold a `\`). */
export function randomAttackAdmin(rng: Rng): { method: string; path: string; body?: unknown } {
  const key = rng.pick(ADMIN_PATH_KEYS);
  switch (rng.int(6)) {
    case 0:
      return { method: "PUT", path: `/api/limits/${key}`, body: { limit: 1 + rng.int(10) } };
    case 1:
      return { method: "GET", path: `/api/limits/${key}` };
    case 2:
      return { method: "DELETE", path: `/api/limits/${key}` };
    case 3:
      return { method: "POST", path: `/api/counters/${key}/reset` };
    case 4:
      return { method: "GET", path: `/check/${key}?window_ms=1` };
    default: {
      const route = rng.pick(["/api/counters", "/api/blocks"]);
      return {
        method: "GET",
        path: `${route}?cursor=${encodeURIComponent(rng.pick(ODD_CURSORS))}`,
      };
    }
  }
}

/** One attack request, by kind in turn (`n` = case number) so every kind runs in any seed. */
export interface AttackRequest {
  kind: "check" | "batch" | "peek" | "admin";
  method: string;
  /** The path as sent: may hold a raw `\`, which only {@linkcode rawUrlRequest} keeps. */
  path: string;
  body?: unknown;
}

/**
 * The `n`-th attack request: a peek, an admin call, a check and a batch in turn. Every other peek
 * targets `peekKey` (e.g. a blocked victim, whose state a peek must never change).
 */
export function randomAttackRequest(rng: Rng, n: number, peekKey: string): AttackRequest {
  switch (n % 4) {
    case 0: {
      const key = Math.floor(n / 4) % 2 === 0 ? peekKey : attackKey(rng);
      return { kind: "peek", method: "GET", path: randomAttackPeek(rng, key) };
    }
    case 1:
      return { kind: "admin", ...randomAttackAdmin(rng) };
    case 2:
      return { kind: "check", method: "POST", path: "/check", body: randomAttackCheck(rng) };
    default:
      return { kind: "batch", method: "POST", path: "/check/batch", body: randomAttackBatch(rng) };
  }
}

/**
 * A `Request` whose `url` is exactly `url`, as `Deno.serve` hands over a request line holding a
 * raw `\` or dot segments (the `Request` constructor, `fetch` and `app.request()` would normalize
 * them to `/`). For in-process tests of what a raw HTTP client can send.
 */
export function rawUrlRequest(url: string, init: RequestInit = {}): Request {
  const request = new Request("http://localhost/", init);
  Object.defineProperty(request, "url", { value: url });
  return request;
}

/** The request of `attack` for `app.fetch`, its raw path kept, against `origin`. */
export function attackFetchRequest(attack: AttackRequest, origin = "http://localhost"): Request {
  const init: RequestInit = { method: attack.method };
  if (attack.body !== undefined) {
    init.headers = { "content-type": "application/json" };
    init.body = JSON.stringify(attack.body);
  }
  return rawUrlRequest(origin + attack.path, init);
}

/** The raw key segment of a path-key route (`/api/limits/{key}`, `.../{key}/reset`, `/check/{key}`). */
function pathKeySegment(path: string): string | undefined {
  const bare = path.split("?")[0]!;
  const match = /^\/api\/limits\/([^/]+)$/.exec(bare) ??
    /^\/api\/counters\/([^/]+)\/reset$/.exec(bare) ?? /^\/check\/(?!batch$)(.+)$/.exec(bare);
  return match?.[1];
}

/**
 * What is wrong with the answer (`status`, body `text`) to `attack`, or `undefined` when nothing
 * is. Holds whatever the limits policy decides: never a 500 nor any 5xx but a 503 JSON error (the
 * documented "store unavailable" answers); a 4xx is a JSON error or a 429 decision; an answer naming the key of a
 * path names exactly the raw segment percent-decoded once (a `\` stays a `\`).
 */
export function attackAnswerProblem(
  attack: AttackRequest,
  status: number,
  text: string,
): string | undefined {
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    return `status ${status} with a body that is not JSON: ${text.slice(0, 200)}`;
  }
  const error = body?.error as Record<string, unknown> | undefined;
  if (status >= 500 && status !== 503) return `status ${status}: ${text.slice(0, 300)}`;
  const decision = status === 429 && typeof body?.allowed === "boolean";
  if (status >= 400 && !decision && typeof error?.code !== "string") {
    return `status ${status} without an error code: ${text.slice(0, 300)}`;
  }
  const segment = pathKeySegment(attack.path);
  if (segment !== undefined && (status === 200 || status === 429)) {
    let expected: string;
    try {
      expected = decodeURIComponent(segment);
    } catch {
      return `status ${status} for a malformed escape in ${JSON.stringify(segment)}`;
    }
    if (body?.key !== expected) {
      return `answered for key ${JSON.stringify(body?.key)}, the path says ${
        JSON.stringify(expected)
      }`;
    }
  }
  return undefined;
}

/** A short description of `attack` for assertion messages. */
export function describeAttack(attack: AttackRequest): string {
  const body = attack.body === undefined ? "" : JSON.stringify(attack.body);
  return `${attack.kind}: ${attack.method} ${attack.path} ${
    body.length > 300 ? `${body.slice(0, 300)}... (${body.length} bytes)` : body
  }`;
}
