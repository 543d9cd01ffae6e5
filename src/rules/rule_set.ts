/**
 * The loaded form of a rules file: one tree per domain, looked up without allocating.
 *
 * @module
 */
import type { DescriptorEntry, RateLimitRule, RuleSet, RulesSummary } from "./types.ts";

/** One descriptor of the rules file: its rule, if any, and the level below it, if any. */
export interface RuleNode {
  /** The descriptor's `rate_limit`, if it has one. */
  rule: RateLimitRule | undefined;
  /** The descriptors nested under this one; `undefined` when there are none. */
  children: RuleLevel | undefined;
}

/** Everything one level of the tree says about one key. */
export interface KeyRules {
  /** Descriptors with this key and a value without a wildcard, by value. */
  exact: Map<string, RuleNode>;
  /** Descriptors with this key and a value ending in `*`, in file order, by the value's prefix. */
  wildcards: { prefix: string; node: RuleNode }[];
  /** The descriptor with this key and no value (the key's default), if any. */
  fallback: RuleNode | undefined;
}

/** One level of the tree: the descriptors of one list, by key. */
export type RuleLevel = Map<string, KeyRules>;

/** The node of `level` one request entry matches: exact value, then wildcards, then default. */
function step(level: RuleLevel, entry: DescriptorEntry): RuleNode | undefined {
  const rules = level.get(entry.key);
  if (rules === undefined) return undefined;
  const exact = rules.exact.get(entry.value);
  if (exact !== undefined) return exact;
  const wildcards = rules.wildcards;
  for (let i = 0; i < wildcards.length; i++) {
    const w = wildcards[i]!;
    if (entry.value.startsWith(w.prefix)) return w.node;
  }
  return rules.fallback;
}

/**
 * A {@linkcode RuleSet} over one tree per domain. `summary` is built once by the parser.
 * Immutable: a reload builds a new one.
 */
export class TreeRuleSet implements RuleSet {
  readonly #domains: ReadonlyMap<string, RuleLevel>;
  readonly #summary: RulesSummary;

  /** A rule set over `domains` (domain → its top level), described by `summary`. */
  constructor(domains: ReadonlyMap<string, RuleLevel>, summary: RulesSummary) {
    this.#domains = domains;
    this.#summary = summary;
  }

  hasDomain(domain: string): boolean {
    return this.#domains.has(domain);
  }

  match(domain: string, entries: readonly DescriptorEntry[]): RateLimitRule | undefined {
    let level = this.#domains.get(domain);
    const last = entries.length - 1;
    for (let i = 0; i <= last && level !== undefined; i++) {
      const node = step(level, entries[i]!);
      if (node === undefined) return undefined;
      // Only the node of the last entry counts; a rule higher up does not apply to a longer
      // descriptor, and the walk stops where the file has nothing deeper.
      if (i === last) return node.rule;
      level = node.children;
    }
    return undefined;
  }

  summary(): RulesSummary {
    return this.#summary;
  }
}

/** The rules when no rules file is configured: no domain, and nothing ever matches. */
export function emptyRuleSet(loadedAt: Date = new Date()): RuleSet {
  return new TreeRuleSet(new Map(), {
    files: [],
    hash: "",
    loadedAt: loadedAt.toISOString(),
    domains: [],
  });
}
