/**
 * The operator's rules as the rest of the service sees them: a loaded, validated rules file
 * (envoyproxy/ratelimit's YAML format plus this service's extensions) answers which rule applies
 * to one descriptor of one domain. Parsing, validation and reloading live beside this file;
 * the Envoy protocol (`src/envoy/`) only uses these types.
 *
 * @module
 */
import type { Algorithm } from "../limiter/types.ts";

/** Units of envoyproxy/ratelimit's `rate_limit.unit`, with their length in seconds. */
export const RULE_UNITS = {
  second: 1,
  minute: 60,
  hour: 3_600,
  day: 86_400,
  week: 604_800,
  month: 2_592_000,
  year: 31_536_000,
} as const;

/** A unit of {@linkcode RULE_UNITS}. */
export type RuleUnit = keyof typeof RULE_UNITS;

/** One `key`/`value` pair of a request descriptor, in request order. */
export interface DescriptorEntry {
  /** The entry's key, e.g. `remote_address`. */
  key: string;
  /** The entry's value, e.g. `10.0.0.1`; may be empty. */
  value: string;
}

/** The `rate_limit` of one descriptor node of the rules file, resolved. */
export interface RateLimitRule {
  /** The domain the rule belongs to. */
  domain: string;
  /**
   * Where the rule sits in its domain, e.g. `["generic_key_foo", "user"]` (`key_value`, or the
   * key alone for a default): unique within the domain, stable across reloads of the same file.
   */
  path: readonly string[];
  /** `rate_limit.name`, if set. */
  name: string | undefined;
  /** `unlimited: true`: the descriptor matches and is never limited. */
  unlimited: boolean;
  /** Units per window; 0 when unlimited. */
  limit: number;
  /** Window length in ms: the unit's length, or the `window` extension. */
  windowMs: number;
  /** The unit when the rule was written with one (the response's `current_limit`). */
  unit: RuleUnit | undefined;
  /**
   * envoyproxy/ratelimit's `unit_multiplier`: the window is this many units (`windowMs` already
   * includes it). Absent when not written, meaning 1.
   */
  unitMultiplier?: number;
  /** `algorithm` extension; `fixed_window` (aligned to the epoch) when not set. */
  algorithm: Algorithm;
  /** `burst` extension (gcra). */
  burst: number | undefined;
  /** `refill_rate` extension (token_bucket). */
  refillRate: number | undefined;
  /** `shadow_mode`: answer OK, count what would have been denied. */
  shadowMode: boolean;
  /** `detailed_metric`: metrics carry the descriptor's values (capped). */
  detailedMetric: boolean;
  /** Names of the rules this one replaces (`replaces: [{name}]`). */
  replaces: readonly string[];
}

/** What `GET /api/rules` shows of the loaded rules. */
export interface RulesSummary {
  /** Files read, in load order. */
  files: string[];
  /** SHA-256 (hex) of the files' contents, in load order. */
  hash: string;
  /** When these rules were loaded (ISO 8601). */
  loadedAt: string;
  /** Every domain with its rules, in file order. */
  domains: { domain: string; rules: RateLimitRule[] }[];
}

/** A loaded, validated, immutable set of rules. A reload builds a new one and swaps it in. */
export interface RuleSet {
  /** Whether the rules define `domain`. */
  hasDomain(domain: string): boolean;
  /**
   * The rule that applies to one request descriptor, matched as envoyproxy/ratelimit does:
   * at each level the exact `key_value`, then wildcard values in file order, then the key's
   * default; the rule of the node matched by the last entry applies. `undefined` when the domain
   * is unknown or nothing matches.
   */
  match(domain: string, entries: readonly DescriptorEntry[]): RateLimitRule | undefined;
  /** What was loaded, for `GET /api/rules`. */
  summary(): RulesSummary;
}
