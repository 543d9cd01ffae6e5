/**
 * The `RateLimit` and `RateLimit-Policy` response headers of draft-ietf-httpapi-ratelimit-headers-10
 * (structured-field lists: `"name";q=<quota>;w=<window seconds>` and
 * `"name";r=<remaining>;t=<seconds to reset>`), which the gRPC server adds to
 * `response_headers_to_add` when `RATELIMITER_RLS_RATELIMIT_HEADERS` is on. One item per limited
 * descriptor, in request order; a policy name seen twice is listed once (its first descriptor).
 *
 * @module
 */
import type { RlsHeader } from "./messages.ts";

/** One limited descriptor's state, as the headers show it. */
export interface PolicyState {
  /** The rule's name (or its path); becomes a structured-field string. */
  name: string;
  /** Units per window (`q`). */
  limit: number;
  /** Window length in seconds (`w`). */
  windowSeconds: number;
  /** Units left in the window (`r`). */
  remaining: number;
  /** Seconds until the window resets (`t`). */
  resetSeconds: number;
}

/** `name` as a structured-field string: printable ASCII, `"` and `\` escaped, others `_`. */
function sfString(name: string): string {
  const printable = name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, (c) => `\\${c}`);
  return `"${printable}"`;
}

/** The two headers for `policies`; none when there is no limited descriptor. */
export function draft10Headers(policies: readonly PolicyState[]): RlsHeader[] {
  if (policies.length === 0) return [];
  const seen = new Set<string>();
  const policy: string[] = [];
  const state: string[] = [];
  for (const p of policies) {
    if (seen.has(p.name)) continue;
    seen.add(p.name);
    const name = sfString(p.name);
    policy.push(`${name};q=${p.limit};w=${p.windowSeconds}`);
    state.push(`${name};r=${p.remaining};t=${p.resetSeconds}`);
  }
  return [
    { key: "RateLimit-Policy", value: policy.join(", ") },
    { key: "RateLimit", value: state.join(", ") },
  ];
}
