/**
 * The rate-limit key of one descriptor of an Envoy request: the counter it consumes from, in the
 * same key space as `/check` (so `/api/counters`, resets and per-key overrides apply to it).
 *
 * `rls:<E(domain)>/<E(key1)>=<E(value1)>/<E(key2)>=<E(value2)>…`, the request's entries in
 * request order, where `E` percent-encodes `%`, `/`, `=` and NUL (as `%25`, `%2F`, `%3D`, `%00`).
 * Deterministic and injective: the separators never occur inside an encoded part, so two different
 * (domain, entries) pairs never share a key. As in envoyproxy/ratelimit, the key is built from the
 * request's values, not the rule's: a rule matched by a wildcard or a default (`user` with any
 * value) counts each value on a counter of its own. The key names no rule, so a reload that keeps
 * a descriptor's limit keeps its counter.
 *
 * A key longer than {@linkcode MAX_KEY_BYTES} (512 bytes of UTF-8) becomes `rls#<sha256 of the long
 * key, hex>`: still deterministic, and distinct from every short key (`#` instead of `:`); two long
 * keys share a counter only if SHA-256 collides.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { MAX_KEY_BYTES, utf8Length } from "../limiter/bounds.ts";
import type { DescriptorEntry } from "../rules/types.ts";

const SPECIAL = /[%/=\0]/;
const SPECIAL_ALL = /[%/=\0]/g;
const ESCAPES: Record<string, string> = { "%": "%25", "/": "%2F", "=": "%3D", "\0": "%00" };

function encodePart(text: string): string {
  return SPECIAL.test(text) ? text.replace(SPECIAL_ALL, (c) => ESCAPES[c]!) : text;
}

/** The counter key of one descriptor of `domain`; see the module documentation. */
export function descriptorCounterKey(domain: string, entries: readonly DescriptorEntry[]): string {
  let key = `rls:${encodePart(domain)}`;
  for (const entry of entries) key += `/${encodePart(entry.key)}=${encodePart(entry.value)}`;
  if (key.length * 3 <= MAX_KEY_BYTES || utf8Length(key) <= MAX_KEY_BYTES) return key;
  return `rls#${createHash("sha256").update(key).digest("hex")}`;
}
