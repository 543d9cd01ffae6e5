/**
 * Seeded random inputs for fuzz tests: JSON values, request bodies, paths and methods. The same
 * seed gives the same sequence, so a failure is reproduced by rerunning with its seed.
 *
 * @module
 */

/** A seeded PRNG (mulberry32) with helpers; every draw is deterministic per seed. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

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
