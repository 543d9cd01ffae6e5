/**
 * A small in-test {@linkcode RuleSet}: rules written as a tree like the rules file's, matched as
 * envoyproxy/ratelimit matches (exact value, then wildcard values in order, then the key's
 * default; the rule of the node matched by the last entry). The tests of `src/envoy/` use it to
 * stay independent of the rules loader.
 *
 * @module
 */
import type { Algorithm } from "../../src/limiter/types.ts";
import {
  type DescriptorEntry,
  type RateLimitRule,
  RULE_UNITS,
  type RuleSet,
  type RuleUnit,
} from "../../src/rules/types.ts";

/** One descriptor node, as in the rules file. */
export interface TestNode {
  key: string;
  value?: string;
  rate_limit?: {
    unit?: RuleUnit;
    requests_per_unit?: number;
    name?: string;
    unlimited?: boolean;
    replaces?: { name: string }[];
    window_ms?: number;
    algorithm?: Algorithm;
  };
  shadow_mode?: boolean;
  detailed_metric?: boolean;
  descriptors?: TestNode[];
}

interface Built {
  key: string;
  value: string | undefined;
  rule: RateLimitRule | undefined;
  children: Built[];
}

function build(domain: string, node: TestNode, path: string[]): Built {
  const here = [...path, node.value === undefined ? node.key : `${node.key}_${node.value}`];
  const r = node.rate_limit;
  const rule: RateLimitRule | undefined = r === undefined ? undefined : {
    domain,
    path: here,
    name: r.name,
    unlimited: r.unlimited ?? false,
    limit: r.unlimited ? 0 : r.requests_per_unit ?? 0,
    windowMs: r.window_ms ?? (r.unit === undefined ? 0 : RULE_UNITS[r.unit] * 1000),
    unit: r.unit,
    algorithm: r.algorithm ?? "fixed_window",
    burst: undefined,
    refillRate: undefined,
    shadowMode: node.shadow_mode ?? false,
    detailedMetric: node.detailed_metric ?? false,
    replaces: (r.replaces ?? []).map((x) => x.name),
  };
  return {
    key: node.key,
    value: node.value,
    rule,
    children: (node.descriptors ?? []).map((c) => build(domain, c, here)),
  };
}

function wildcardMatches(pattern: string, value: string): boolean {
  const parts = pattern.split("*");
  const re = new RegExp(
    `^${parts.map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`,
  );
  return re.test(value);
}

/** A rule set of `domains` (domain → top-level descriptor nodes). */
export function testRuleSet(domains: Record<string, TestNode[]>): RuleSet {
  const trees = new Map(
    Object.entries(domains).map(([d, nodes]) => [d, nodes.map((n) => build(d, n, []))]),
  );
  return {
    hasDomain: (domain) => trees.has(domain),
    match(domain, entries: readonly DescriptorEntry[]) {
      let level = trees.get(domain);
      let found: Built | undefined;
      for (const entry of entries) {
        if (level === undefined) return undefined;
        const sameKey = level.filter((n) => n.key === entry.key);
        found = sameKey.find((n) => n.value === entry.value) ??
          sameKey.find((n) => n.value?.includes("*") && wildcardMatches(n.value, entry.value)) ??
          sameKey.find((n) => n.value === undefined);
        if (found === undefined) return undefined;
        level = found.children;
      }
      return found?.rule;
    },
    summary: () => ({ files: [], hash: "", loadedAt: "", domains: [] }),
  };
}
