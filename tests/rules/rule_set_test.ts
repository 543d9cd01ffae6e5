import assert from "node:assert/strict";
import { parseRules } from "../../src/rules/parse_rules.ts";
import { emptyRuleSet } from "../../src/rules/rule_set.ts";
import type { RuleSet } from "../../src/rules/types.ts";

/** envoyproxy/ratelimit's `basic_config.yaml`, the shape its config tests match against. */
const BASIC = `domain: test-domain
descriptors:
  - key: key1
    value: value1
    descriptors:
      - key: subkey1
        rate_limit: {unit: second, requests_per_unit: 5}
      - key: subkey1
        value: subvalue1
        rate_limit: {unit: second, requests_per_unit: 10}
  - key: key2
    rate_limit: {unit: minute, requests_per_unit: 20}
  - key: key2
    value: value2
    rate_limit: {unit: minute, requests_per_unit: 30}
  - key: key2
    value: value3
  - key: key3
    rate_limit: {unit: hour, requests_per_unit: 1}
  - key: key4
    rate_limit: {unit: day, requests_per_unit: 1}
  - key: key5
    value: value5
    rate_limit: {unit: day, requests_per_unit: 15}
    descriptors:
      - key: subkey5
        value: subvalue5
        rate_limit: {unit: day, requests_per_unit: 25}
  - key: key6
    rate_limit: {unlimited: true}
  - key: key7
    detailed_metric: true
    rate_limit: {unit: minute, requests_per_unit: 70}
  - key: key8
    rate_limit: {unit: week, requests_per_unit: 8}
  - key: key9
    rate_limit: {unit: month, requests_per_unit: 9}
  - key: key10
    rate_limit: {unit: year, requests_per_unit: 10}
  - key: key11
    rate_limit: {window: 5m, requests_per_unit: 11, algorithm: sliding_window}
---
domain: shadow
descriptors:
  - key: key1
    value: value1
    descriptors:
      - key: subkey1
        rate_limit: {unit: second, requests_per_unit: 5}
      - key: subkey1
        value: subvalue1
        shadow_mode: true
        rate_limit: {unit: second, requests_per_unit: 10}
---
domain: wild
descriptors:
  - key: wild
    value: foo*
    rate_limit: {unit: minute, requests_per_unit: 20}
  - key: wild
    value: fo*
    rate_limit: {unit: minute, requests_per_unit: 21}
  - key: wild
    value: foo2
    rate_limit: {unit: minute, requests_per_unit: 22}
  - key: wild
    rate_limit: {unit: minute, requests_per_unit: 23}
  - key: order
    value: a*
    rate_limit: {unit: minute, requests_per_unit: 30}
  - key: order
    value: ab*
    rate_limit: {unit: minute, requests_per_unit: 31}
  - key: any
    value: "*"
    rate_limit: {unit: minute, requests_per_unit: 24}
  - key: noWild
    value: foo
    rate_limit: {unit: minute, requests_per_unit: 25}
  - key: path
    value: /api/*
    descriptors:
      - key: user
        value: admin*
        rate_limit: {unit: second, requests_per_unit: 26}
      - key: user
        rate_limit: {unit: second, requests_per_unit: 27}
---
domain: replaces
descriptors:
  - key: key_1
    value: value_1
    descriptors:
      - key: user
        value: bkthomps
        rate_limit: {name: specific_limit, unit: second, requests_per_unit: 5}
  - key: key_2
    value: value_2
    descriptors:
      - key: user
        value: bkthomps
        rate_limit:
          replaces: [{name: specific_limit}]
          unit: second
          requests_per_unit: 10
`;

const rules = parseRules([{ name: "rules.yaml", text: BASIC }]);

/** `[key, value]` pairs → a descriptor. */
const d = (...pairs: [string, string][]) => pairs.map(([key, value]) => ({ key, value }));

/**
 * Each request descriptor and the rule it gets, as `limit/unit-or-window` (or undefined): the
 * cases of envoyproxy/ratelimit's TestBasicConfig, TestShadowModeConfig, TestWildcardConfig and
 * its README examples, plus the units and extensions it does not have.
 */
const CASES: {
  domain: string;
  entries: [string, string][];
  want: string | undefined;
  why: string;
}[] = [
  { domain: "foo_domain", entries: [["key1", "value1"]], want: undefined, why: "unknown domain" },
  { domain: "test-domain", entries: [], want: undefined, why: "no entries" },
  {
    domain: "test-domain",
    entries: [["key1", "something"]],
    want: undefined,
    why: "no such value, no default",
  },
  {
    domain: "test-domain",
    entries: [["key1", "value1"]],
    want: undefined,
    why: "a level without a rule",
  },
  {
    domain: "test-domain",
    entries: [["key2", "value2"], ["subkey", "subvalue"]],
    want: undefined,
    why: "deeper than the file",
  },
  {
    domain: "test-domain",
    entries: [["key5", "value5"], ["subkey5", "subvalue"]],
    want: undefined,
    why: "a rule higher up does not apply to a longer descriptor",
  },
  {
    domain: "test-domain",
    entries: [["key5", "value5"]],
    want: "15/day",
    why: "a node with both a rule and children",
  },
  {
    domain: "test-domain",
    entries: [["key5", "value5"], ["subkey5", "subvalue5"]],
    want: "25/day",
    why: "nested exact",
  },
  {
    domain: "test-domain",
    entries: [["key1", "value1"], ["subkey1", "something"]],
    want: "5/second",
    why: "nested default",
  },
  {
    domain: "test-domain",
    entries: [["key1", "value1"], ["subkey1", "subvalue1"]],
    want: "10/second",
    why: "nested exact over default",
  },
  {
    domain: "test-domain",
    entries: [["key2", "something"]],
    want: "20/minute",
    why: "the key's default",
  },
  {
    domain: "test-domain",
    entries: [["key2", "value2"]],
    want: "30/minute",
    why: "exact value over the default",
  },
  {
    domain: "test-domain",
    entries: [["key2", "value3"]],
    want: undefined,
    why: "an exact value without a rule (whitelisted)",
  },
  {
    domain: "test-domain",
    entries: [["key2", ""]],
    want: "20/minute",
    why: "an empty value takes the default",
  },
  { domain: "test-domain", entries: [["key3", "foo"]], want: "1/hour", why: "hour" },
  { domain: "test-domain", entries: [["key4", "foo"]], want: "1/day", why: "day" },
  { domain: "test-domain", entries: [["key6", "foo"]], want: "unlimited", why: "unlimited" },
  {
    domain: "test-domain",
    entries: [["key7", "unspecified_value"]],
    want: "70/minute",
    why: "detailed_metric default",
  },
  { domain: "test-domain", entries: [["key8", "x"]], want: "8/week", why: "week" },
  { domain: "test-domain", entries: [["key9", "x"]], want: "9/month", why: "month" },
  { domain: "test-domain", entries: [["key10", "x"]], want: "10/year", why: "year" },
  {
    domain: "test-domain",
    entries: [["key11", "x"]],
    want: "11/300000ms",
    why: "window extension",
  },
  {
    domain: "test-domain",
    entries: [["KEY2", "x"]],
    want: undefined,
    why: "keys are case-sensitive",
  },
  {
    domain: "shadow",
    entries: [["key1", "value1"], ["subkey1", "something"]],
    want: "5/second",
    why: "not in shadow mode",
  },
  {
    domain: "shadow",
    entries: [["key1", "value1"], ["subkey1", "subvalue1"]],
    want: "10/second shadow",
    why: "shadow mode",
  },
  {
    domain: "wild",
    entries: [["wild", "foo1"]],
    want: "20/minute",
    why: "first wildcard in file order",
  },
  {
    domain: "wild",
    entries: [["wild", "foo"]],
    want: "20/minute",
    why: "a wildcard matches its prefix alone",
  },
  { domain: "wild", entries: [["wild", "fox"]], want: "21/minute", why: "the second wildcard" },
  { domain: "wild", entries: [["wild", "foo2"]], want: "22/minute", why: "exact before wildcards" },
  { domain: "wild", entries: [["wild", "bar"]], want: "23/minute", why: "default after wildcards" },
  {
    domain: "wild",
    entries: [["order", "ab*"]],
    want: "31/minute",
    why: "a value written like a wildcard finds that wildcard exactly, before the others",
  },
  {
    domain: "wild",
    entries: [["order", "abc"]],
    want: "30/minute",
    why: "the first wildcard in file order wins, not the longest",
  },
  {
    domain: "wild",
    entries: [["any", "whatever"]],
    want: "24/minute",
    why: "a lone * matches any value",
  },
  {
    domain: "wild",
    entries: [["any", ""]],
    want: "24/minute",
    why: "a lone * matches the empty value",
  },
  {
    domain: "wild",
    entries: [["noWild", "foo1"]],
    want: undefined,
    why: "non-wildcard values do not match eagerly",
  },
  {
    domain: "wild",
    entries: [["path", "/api/v1"], ["user", "admin-1"]],
    want: "26/second",
    why: "wildcards at two levels",
  },
  {
    domain: "wild",
    entries: [["path", "/api/v1"], ["user", "bob"]],
    want: "27/second",
    why: "wildcard, then default",
  },
  {
    domain: "wild",
    entries: [["path", "/web/v1"], ["user", "bob"]],
    want: undefined,
    why: "first level matches nothing",
  },
  {
    domain: "replaces",
    entries: [["key_1", "value_1"], ["user", "bkthomps"]],
    want: "5/second specific_limit",
    why: "named rule",
  },
  {
    domain: "replaces",
    entries: [["key_2", "value_2"], ["user", "bkthomps"]],
    want: "10/second replaces:specific_limit",
    why: "replacing rule",
  },
];

function show(rule: ReturnType<RuleSet["match"]>): string | undefined {
  if (rule === undefined) return undefined;
  if (rule.unlimited) return "unlimited";
  let text = `${rule.limit}/${rule.unit ?? `${rule.windowMs}ms`}`;
  if (rule.shadowMode) text += " shadow";
  if (rule.name !== undefined) text += ` ${rule.name}`;
  if (rule.replaces.length > 0) text += ` replaces:${rule.replaces.join(",")}`;
  return text;
}

for (const { domain, entries, want, why } of CASES) {
  const name = entries.map(([k, v]) => `(${k}, ${JSON.stringify(v)})`).join(",") || "()";
  Deno.test(`RuleSet.match() ${domain} ${name}: ${want ?? "no rule"} (${why})`, () => {
    assert.equal(show(rules.match(domain, d(...entries))), want);
  });
}

Deno.test("RuleSet.match() returns the rule objects of the summary, and their paths", () => {
  const rule = rules.match("wild", d(["path", "/api/x"], ["user", "admin"]))!;
  assert.deepEqual(rule.path, ["path_/api/*", "user_admin*"]);
  assert.equal(rule.domain, "wild");
  const listed = rules.summary().domains.find((x) => x.domain === "wild")!.rules;
  assert.ok(listed.includes(rule));
});

Deno.test("RuleSet.hasDomain() knows the domains of the file only", () => {
  assert.equal(rules.hasDomain("test-domain"), true);
  assert.equal(rules.hasDomain("replaces"), true);
  assert.equal(rules.hasDomain("nope"), false);
});

Deno.test("RuleSet.match() tells keys and values apart where joining them with _ would not", () => {
  const set = parseRules([{
    name: "r.yaml",
    text: "domain: d\ndescriptors:\n  - key: a_b\n    value: c\n    rate_limit: " +
      "{unit: second, requests_per_unit: 1}\n  - key: a\n    value: b_c\n    rate_limit: " +
      "{unit: second, requests_per_unit: 2}\n",
  }]);
  assert.equal(set.match("d", d(["a_b", "c"]))?.limit, 1);
  assert.equal(set.match("d", d(["a", "b_c"]))?.limit, 2);
});

Deno.test("emptyRuleSet() has no domain and matches nothing", () => {
  const empty = emptyRuleSet(new Date(0));
  assert.equal(empty.hasDomain("d"), false);
  assert.equal(empty.match("d", d(["k", "v"])), undefined);
  assert.deepEqual(empty.summary(), {
    files: [],
    hash: "",
    loadedAt: "1970-01-01T00:00:00.000Z",
    domains: [],
  });
});
