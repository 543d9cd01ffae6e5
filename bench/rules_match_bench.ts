/**
 * In-process micro-benchmarks of `RuleSet.match`, which the Envoy protocol calls once per
 * descriptor of every request: a rules file of 1,000 domains, each with exact values, wildcards,
 * defaults and a nested level, matched for the common shapes of a descriptor. Compare with an
 * empty function call (the floor).
 *
 *   deno bench --allow-read --allow-env bench/rules_match_bench.ts
 *
 * @module
 */
import { parseRules } from "../src/rules/parse_rules.ts";
import type { DescriptorEntry } from "../src/rules/types.ts";

const DOMAINS = 1000;

function domainText(i: number): string {
  let text = `domain: domain${i}\ndescriptors:\n`;
  for (let v = 0; v < 50; v++) {
    text += `  - key: remote_address\n    value: 10.0.0.${v}\n` +
      `    rate_limit: {unit: second, requests_per_unit: ${v + 1}}\n`;
  }
  for (let w = 0; w < 10; w++) {
    text += `  - key: path\n    value: /api/v${w}/*\n` +
      `    rate_limit: {unit: minute, requests_per_unit: 100}\n`;
  }
  text += `  - key: remote_address\n    rate_limit: {unit: second, requests_per_unit: 10}\n` +
    `  - key: tenant\n    value: acme\n    descriptors:\n` +
    `      - key: user\n        rate_limit: {unit: minute, requests_per_unit: 60}\n` +
    `      - key: user\n        value: vip\n        rate_limit: {unit: minute, requests_per_unit: 600}\n`;
  return text;
}

const text = Array.from({ length: DOMAINS }, (_, i) => domainText(i)).join("---\n");
const rules = parseRules([{ name: "bench.yaml", text }]);

const exact: DescriptorEntry[] = [{ key: "remote_address", value: "10.0.0.42" }];
const fallback: DescriptorEntry[] = [{ key: "remote_address", value: "192.168.1.1" }];
const lastWildcard: DescriptorEntry[] = [{ key: "path", value: "/api/v9/users/42" }];
const nested: DescriptorEntry[] = [
  { key: "tenant", value: "acme" },
  { key: "user", value: "bob" },
];
const miss: DescriptorEntry[] = [{ key: "nothing", value: "x" }];
let sink: unknown;
const noop = (domain: string, entries: readonly DescriptorEntry[]) =>
  entries.length > 0 ? domain : undefined;

Deno.bench("floor: a function call", { baseline: true, group: "match" }, () => {
  sink = noop("domain500", exact);
});
Deno.bench("match: exact value among 50", { group: "match" }, () => {
  sink = rules.match("domain500", exact);
});
Deno.bench("match: the key's default", { group: "match" }, () => {
  sink = rules.match("domain500", fallback);
});
Deno.bench("match: the 10th wildcard", { group: "match" }, () => {
  sink = rules.match("domain500", lastWildcard);
});
Deno.bench("match: two levels, default below exact", { group: "match" }, () => {
  sink = rules.match("domain500", nested);
});
Deno.bench("match: no such key", { group: "match" }, () => {
  sink = rules.match("domain500", miss);
});
Deno.bench("match: unknown domain", { group: "match" }, () => {
  sink = rules.match("nope", exact);
});
// Slow by design of the measure: seconds per iteration (the YAML parser), so only a few.
Deno.bench(
  `parse: ${DOMAINS} domains, ${text.length} bytes`,
  { group: "parse", n: 3, warmup: 1 },
  () => {
    sink = parseRules([{ name: "bench.yaml", text }]);
  },
);
globalThis.addEventListener("unload", () => void sink);
