import { type Algorithm, ALGORITHM_CODES, ALGORITHMS } from "../limiter/types.ts";

/**
 * The Redis key schema. Every key the service writes starts with `<prefix>:`.
 *
 * Counter state of rate-limit key `K` under an algorithm with code `<alg>`:
 * - `K` without a leading hash tag: `<prefix>:<alg>:{E(K)}`
 * - `K` = `{T}R` with a non-empty tag `T`: `<prefix>:<alg>:{E(T)}:E(R)`
 *
 * `E` percent-encodes `%`, `{` and `}`, so the braces the service writes are the only ones in the
 * name. All state of one key (every algorithm) therefore hashes to the same Redis Cluster slot, and
 * keys sharing a leading tag (`{tenant42}:user`, `{tenant42}:ip`) share a slot too.
 *
 * Internal keys, each built by its function below and nowhere else:
 * - `<prefix>:nodes`: the node registry hash ({@linkcode nodesKey})
 * - `<prefix>:overrides` and `<prefix>:overrides:version`: the overrides hash and its version
 *   ({@linkcode overridesKey}, {@linkcode overridesVersionKey})
 * - `<prefix>:events`: the pub/sub channel of cluster events ({@linkcode eventsChannel})
 * - `<prefix>:active_counters` and `<prefix>:active_counters:lock`: the published counter count
 *   and the lock of the node counting ({@linkcode activeCountersKey},
 *   {@linkcode activeCountersLockKey})
 * - `<prefix>:node_stats`: each node's recent figures for `/api/cluster` ({@linkcode nodeStatsKey})
 *
 * They contain no `{`, so no client key can name one.
 *
 * On a Redis Cluster (`RATELIMITER_REDIS_MODE=cluster`) the internal keys are built on
 * {@linkcode internalKeyPrefix} instead: `<prefix>:{<prefix>}:nodes`,
 * `<prefix>:{<prefix>}:overrides`… One hash tag puts them all in one slot, so the scripts that
 * touch two of them (an override and its version, the counting lock and the published count) are
 * valid there; their second segment starts with `{`, which no algorithm code does, so they never
 * read as counter keys. Standalone and Sentinel deployments keep the plain names above: their
 * existing keys stay where they are, nothing to migrate.
 *
 * Reference layout (`RATELIMITER_KEY_LAYOUT=reference`): sliding_log counters live where the
 * original Python service keeps them, outside the prefix: a sorted set at `ratelimit:<K>` (`K`
 * verbatim, no encoding, no hash tag) and its member sequence `ratelimit:<K>:seq`
 * ({@linkcode referenceCounterKey}, {@linkcode referenceSeqKey}). Other algorithms keep the keys
 * above.
 *
 * @module
 */

/** Prefix of every Redis key when `RATELIMITER_KEY_PREFIX` is not set. */
export const DEFAULT_KEY_PREFIX = "rl";

/**
 * The prefix of the internal keys (registry, overrides, counts, node figures): `prefix` on one
 * Redis, `<prefix>:{<prefix>}` on a Redis Cluster, so they share one slot there.
 */
export function internalKeyPrefix(prefix: string, clustered: boolean): string {
  return clustered ? `${prefix}:{${prefix}}` : prefix;
}

/** The hash of node records (field = node id). */
export function nodesKey(prefix: string): string {
  return `${prefix}:nodes`;
}

/** The hash of overrides (field = client key). */
export function overridesKey(prefix: string): string {
  return `${prefix}:overrides`;
}

/** The version of the overrides hash, bumped with every change. */
export function overridesVersionKey(prefix: string): string {
  return `${prefix}:overrides:version`;
}

/** The pub/sub channel cluster events travel on. */
export function eventsChannel(prefix: string): string {
  return `${prefix}:events`;
}

/** The counter count published by the node that counts. */
export function activeCountersKey(prefix: string): string {
  return `${prefix}:active_counters`;
}

/** The lock held by the node that counts the counters. */
export function activeCountersLockKey(prefix: string): string {
  return `${prefix}:active_counters:lock`;
}

/** The hash of each node's recent figures (field = node id, value = JSON). */
export function nodeStatsKey(prefix: string): string {
  return `${prefix}:node_stats`;
}

function encode(part: string): string {
  return part.replace(/[%{}]/g, (c) => c === "%" ? "%25" : c === "{" ? "%7B" : "%7D");
}

function decode(part: string): string {
  return part.replace(/%(25|7B|7D)/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Splits a client key into its leading hash tag and the rest, or `undefined` if it has none. */
export function leadingHashTag(key: string): { tag: string; rest: string } | undefined {
  if (!key.startsWith("{")) return undefined;
  const close = key.indexOf("}", 1);
  if (close <= 1) return undefined;
  return { tag: key.slice(1, close), rest: key.slice(close + 1) };
}

/**
 * The part of a client key that decides its Redis Cluster slot: its leading hash tag, or the whole
 * key. Limits checked together atomically must share it.
 */
export function slotTag(key: string): string {
  return leadingHashTag(key)?.tag ?? key;
}

/** Redis key holding the state of client key `key` under `algorithm`. */
export function counterKey(prefix: string, algorithm: Algorithm, key: string): string {
  const code = ALGORITHM_CODES[algorithm];
  const tagged = leadingHashTag(key);
  if (tagged === undefined) return `${prefix}:${code}:{${encode(key)}}`;
  return `${prefix}:${code}:{${encode(tagged.tag)}}:${encode(tagged.rest)}`;
}

const CODE_TO_ALGORITHM = new Map<string, Algorithm>(
  ALGORITHMS.map((a) => [ALGORITHM_CODES[a], a]),
);

/** Parses a Redis key written by {@linkcode counterKey}; `undefined` for any other key. */
export function parseCounterKey(
  prefix: string,
  redisKey: string,
): { algorithm: Algorithm; key: string } | undefined {
  if (!redisKey.startsWith(prefix + ":")) return undefined;
  const body = redisKey.slice(prefix.length + 1);
  const colon = body.indexOf(":");
  if (colon < 0 || body[colon + 1] !== "{") return undefined;
  const algorithm = CODE_TO_ALGORITHM.get(body.slice(0, colon));
  if (algorithm === undefined) return undefined;
  const close = body.indexOf("}", colon + 2);
  if (close < 0) return undefined;
  const inner = decode(body.slice(colon + 2, close));
  const after = body.slice(close + 1);
  if (after === "") return { algorithm, key: inner };
  if (!after.startsWith(":")) return undefined;
  return { algorithm, key: `{${inner}}${decode(after.slice(1))}` };
}

/** A SCAN MATCH pattern over the counter keys of every algorithm. */
export function counterScanPattern(prefix: string): string {
  return `${escapeGlob(prefix)}:*:{*`;
}

/** Escapes the glob characters of Redis MATCH patterns. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => "\\" + c);
}

/** Where sliding_log counters live: this service's schema, or the original service's. */
export const KEY_LAYOUTS = ["default", "reference"] as const;

/** A value of {@linkcode KEY_LAYOUTS}. */
export type KeyLayout = typeof KEY_LAYOUTS[number];

/** Namespace of the reference layout, fixed by the original service (no prefix applies). */
export const REFERENCE_NAMESPACE = "ratelimit";

/**
 * Largest cost of one sliding_log request in the reference layout, which stores one member per
 * unit: a check does work in proportion to its cost, so the cost must stay bounded.
 */
export const REFERENCE_MAX_COST = 10_000;

/** The reference layout's sorted set of client key `key`: `ratelimit:<key>`. */
export function referenceCounterKey(key: string): string {
  return `${REFERENCE_NAMESPACE}:${key}`;
}

/** The reference layout's member sequence of client key `key`: `ratelimit:<key>:seq`. */
export function referenceSeqKey(key: string): string {
  return `${referenceCounterKey(key)}:seq`;
}

/**
 * The client key of a Redis key under `ratelimit:`, or `undefined` for any other key. Whether it
 * holds a counter (a sorted set) is for Redis to say: the original also keeps `:seq` counters and
 * `ratelimit:limit:` hashes there.
 */
export function parseReferenceCounterKey(redisKey: string): string | undefined {
  const head = `${REFERENCE_NAMESPACE}:`;
  if (!redisKey.startsWith(head) || redisKey.length === head.length) return undefined;
  return redisKey.slice(head.length);
}

/** A SCAN MATCH pattern over the reference layout's keys whose client key starts with `start`. */
export function referenceScanPattern(start = ""): string {
  return `${REFERENCE_NAMESPACE}:${escapeGlob(start)}*`;
}
