import assert from "node:assert/strict";
import { MAX_RULE_LIMIT, parseRules } from "../../src/rules/parse_rules.ts";
import { RulesError } from "../../src/rules/rules_error.ts";

/** The issues `parseRules` reports for one file `rules.yaml` holding `text` ([] if it loads). */
function issuesOf(text: string): string[] {
  try {
    parseRules([{ name: "rules.yaml", text }]);
    return [];
  } catch (error) {
    if (!(error instanceof RulesError)) throw error;
    return error.issues;
  }
}

const at = (doc: number, path: string, message: string) =>
  `rules.yaml, document ${doc}, ${path}: ${message}`;

const UNITS = "second, minute, hour, day, week, month, year";
const DESCRIPTOR_FIELDS =
  "key, value, rate_limit, descriptors, shadow_mode, detailed_metric, value_to_metric";

/** A one-descriptor document whose `rate_limit` is `rateLimit` (YAML flow mapping). */
const withLimit = (rateLimit: string) =>
  `domain: d\ndescriptors:\n  - key: k\n    rate_limit: ${rateLimit}\n`;

/**
 * Each invalid file and exactly the problems reported: the reference's config tests (empty
 * domain, empty key, duplicate key, duplicate domain, bad unit, unknown key, non-map list, bad
 * YAML, unlimited with a unit, replaces empty or naming itself) and this service's stricter rules.
 */
const INVALID: { name: string; text: string; issues: string[] }[] = [
  {
    name: "empty domain",
    text: "domain: ''\ndescriptors: []\n",
    issues: [at(1, "domain", "must not be empty")],
  },
  {
    name: "missing domain",
    text: "descriptors:\n  - key: k\n",
    issues: [at(1, "domain", "must not be empty")],
  },
  {
    name: "empty key",
    text: "domain: d\ndescriptors:\n  - key: ''\n",
    issues: [at(1, "descriptors[0].key", "must not be empty")],
  },
  {
    name: "missing key",
    text: "domain: d\ndescriptors:\n  - value: v\n",
    issues: [at(1, "descriptors[0].key", "is required")],
  },
  {
    name: "duplicate key and value at one level",
    text: "domain: d\ndescriptors:\n  - key: k\n    value: v\n  - key: k\n    value: v\n",
    issues: [
      at(
        1,
        "descriptors[1]",
        'duplicate descriptor: key "k" with value "v" is already at descriptors[0]',
      ),
    ],
  },
  {
    name: "duplicate default at a nested level",
    text: "domain: d\ndescriptors:\n  - key: a\n    descriptors:\n      - key: b\n      - key: b\n",
    issues: [
      at(
        1,
        "descriptors[0].descriptors[1]",
        'duplicate descriptor: key "b" without a value is already at descriptors[0].descriptors[0]',
      ),
    ],
  },
  {
    name: "domain duplicated across documents",
    text: "domain: d\ndescriptors: []\n---\ndomain: e\n---\ndomain: d\n",
    issues: [at(3, "domain", 'duplicate domain "d", already in rules.yaml, document 1')],
  },
  {
    name: "bad unit",
    text: withLimit("{unit: foo, requests_per_unit: 1}"),
    issues: [
      at(1, "descriptors[0].rate_limit.unit", `invalid unit "foo": expected one of ${UNITS}`),
    ],
  },
  {
    name: "no unit nor window",
    text: withLimit("{requests_per_unit: 1}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.unit",
        `is required (one of ${UNITS}), or a window, unless unlimited is true`,
      ),
    ],
  },
  {
    name: "no requests_per_unit",
    text: withLimit("{unit: second}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.requests_per_unit",
        "is required unless unlimited is true (0 denies every request)",
      ),
    ],
  },
  {
    name: "negative requests_per_unit",
    text: withLimit("{unit: second, requests_per_unit: -1}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.requests_per_unit",
        `expected an integer from 0 to ${MAX_RULE_LIMIT}, received "-1"`,
      ),
    ],
  },
  {
    name: "requests_per_unit above uint32",
    text: withLimit("{unit: second, requests_per_unit: 4294967296}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.requests_per_unit",
        `expected an integer from 0 to ${MAX_RULE_LIMIT}, received "4294967296"`,
      ),
    ],
  },
  {
    name: "fractional requests_per_unit",
    text: withLimit("{unit: second, requests_per_unit: 1.5}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.requests_per_unit",
        `expected an integer from 0 to ${MAX_RULE_LIMIT}, received "1.5"`,
      ),
    ],
  },
  {
    name: "unlimited with a unit",
    text: withLimit("{unlimited: true, unit: second}"),
    issues: [at(1, "descriptors[0].rate_limit.unit", "must not be set when unlimited is true")],
  },
  {
    name: "unlimited with a window and an algorithm",
    text: withLimit("{unlimited: true, window: 5m, algorithm: gcra}"),
    issues: [
      at(1, "descriptors[0].rate_limit.window", "must not be set when unlimited is true"),
      at(1, "descriptors[0].rate_limit.algorithm", "must not be set when unlimited is true"),
    ],
  },
  {
    name: "unlimited not a boolean",
    text: withLimit("{unlimited: maybe}"),
    issues: [
      at(1, "descriptors[0].rate_limit.unlimited", 'expected true or false, received "maybe"'),
    ],
  },
  {
    name: "unknown field in a descriptor (the reference's misspelled key)",
    text:
      "domain: d\ndescriptors:\n  - key: k\n    ratelimit: {unit: second, requests_per_unit: 1}\n",
    issues: [
      at(1, "descriptors[0].ratelimit", `unknown field; expected one of ${DESCRIPTOR_FIELDS}`),
    ],
  },
  {
    name: "unknown field in rate_limit",
    text: withLimit("{unit: second, requestsperunit: 1, requests_per_unit: 1}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.requestsperunit",
        "unknown field; expected one of unit, unit_multiplier, requests_per_unit, unlimited, " +
          "name, replaces, window, algorithm, burst, refill_rate",
      ),
    ],
  },
  {
    name: "unknown field at the top",
    text: "domain: d\nlimits: []\n",
    issues: [at(1, "limits", "unknown field; expected one of domain, descriptors")],
  },
  {
    name: "a known field in the wrong place",
    text: "domain: d\ndescriptors:\n  - key: k\n    unit: second\n",
    issues: [at(1, "descriptors[0].unit", `unknown field; expected one of ${DESCRIPTOR_FIELDS}`)],
  },
  {
    name: "share_threshold (not supported)",
    text: "domain: d\ndescriptors:\n  - key: k\n    value: a*\n    share_threshold: true\n",
    issues: [
      at(
        1,
        "descriptors[0].share_threshold",
        "is not supported by this service (counters are never shared)",
      ),
    ],
  },
  {
    name: "a list of something other than mappings (the reference's non-map list)",
    text: "domain: d\ndescriptors:\n  - a\n",
    issues: [
      at(1, "descriptors[0]", 'expected a descriptor (a mapping), received the scalar "a"'),
    ],
  },
  {
    name: "descriptors not a list",
    text: "domain: d\ndescriptors: {key: k}\n",
    issues: [at(1, "descriptors", "expected a list of descriptors, received a mapping")],
  },
  {
    name: "key not a string",
    text: "domain: d\ndescriptors:\n  - key: [a]\n",
    issues: [at(1, "descriptors[0].key", "expected a string, received a list")],
  },
  {
    name: "wildcard inside a value",
    text: "domain: d\ndescriptors:\n  - key: k\n    value: a*b\n",
    issues: [
      at(1, "descriptors[0].value", 'a wildcard * may only be the last character, received "a*b"'),
    ],
  },
  {
    name: "wildcard in a key",
    text: "domain: d\ndescriptors:\n  - key: k*\n",
    issues: [at(1, "descriptors[0].key", "must not contain *: a wildcard may only end a value")],
  },
  {
    name: "empty replaces entry",
    text: withLimit("{unit: second, requests_per_unit: 1, replaces: [{name: ''}]}"),
    issues: [at(1, "descriptors[0].rate_limit.replaces[0].name", "must not be empty")],
  },
  {
    name: "replaces naming its own rule",
    text: withLimit("{name: a, unit: second, requests_per_unit: 1, replaces: [{name: a}]}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.replaces[0].name",
        "must not be the name of this same rate_limit",
      ),
    ],
  },
  {
    name: "replaces naming no rule of the domain",
    text: withLimit("{unit: second, requests_per_unit: 1, replaces: [{name: nope}]}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.replaces[0].name",
        'names no rule: no rate_limit of domain "d" has the name "nope"',
      ),
    ],
  },
  {
    name: "replaces naming a rule of another domain",
    text: "domain: a\ndescriptors:\n  - key: k\n    rate_limit: {name: x, unit: second, " +
      "requests_per_unit: 1}\n---\n" +
      withLimit("{unit: second, requests_per_unit: 1, replaces: [{name: x}]}"),
    issues: [
      at(
        2,
        "descriptors[0].rate_limit.replaces[0].name",
        'names no rule: no rate_limit of domain "d" has the name "x"',
      ),
    ],
  },
  {
    name: "unit and window together",
    text: withLimit("{unit: second, window: 5s, requests_per_unit: 1}"),
    issues: [
      at(1, "descriptors[0].rate_limit.window", "must not be set together with unit: choose one"),
    ],
  },
  ...["5", "5 m", "1.5m", "-5m", "0s", "366d", "5w"].map((window) => ({
    name: `bad window ${JSON.stringify(window)}`,
    text: withLimit(`{window: "${window}", requests_per_unit: 1}`),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.window",
        "expected a duration like 90s, 5m or 1h30m (units ms, s, m, h, d) from 1ms to 365d, " +
          `received ${JSON.stringify(window)}`,
      ),
    ],
  })),
  {
    name: "zero unit_multiplier (the reference's zero_unit_multiplier)",
    text: withLimit("{unit: second, requests_per_unit: 5, unit_multiplier: 0}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.unit_multiplier",
        `expected an integer from 1 to ${MAX_RULE_LIMIT}, received "0"`,
      ),
    ],
  },
  {
    name: "unit_multiplier past 365 days",
    text: withLimit("{unit: day, requests_per_unit: 5, unit_multiplier: 366}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.unit_multiplier",
        "makes a window of 366 days, longer than 365 days",
      ),
    ],
  },
  {
    name: "unit_multiplier with a window",
    text: withLimit("{window: 5m, requests_per_unit: 5, unit_multiplier: 2}"),
    issues: [
      at(1, "descriptors[0].rate_limit.unit_multiplier", "applies only with unit, not with window"),
    ],
  },
  {
    name: "bad algorithm",
    text: withLimit("{unit: second, requests_per_unit: 1, algorithm: leaky_bucket}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.algorithm",
        "expected one of sliding_log, sliding_window, fixed_window, token_bucket, gcra, " +
          'received "leaky_bucket"',
      ),
    ],
  },
  {
    name: "burst without gcra",
    text: withLimit("{unit: second, requests_per_unit: 1, burst: 5}"),
    issues: [at(1, "descriptors[0].rate_limit.burst", "applies only with algorithm: gcra")],
  },
  {
    name: "zero burst",
    text: withLimit("{unit: second, requests_per_unit: 1, algorithm: gcra, burst: 0}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.burst",
        `expected an integer from 1 to ${MAX_RULE_LIMIT}, received "0"`,
      ),
    ],
  },
  {
    name: "refill_rate without token_bucket",
    text: withLimit("{unit: second, requests_per_unit: 1, algorithm: gcra, refill_rate: 5}"),
    issues: [
      at(1, "descriptors[0].rate_limit.refill_rate", "applies only with algorithm: token_bucket"),
    ],
  },
  {
    name: "zero requests_per_unit with an explicit algorithm",
    text: withLimit("{unit: second, requests_per_unit: 0, algorithm: token_bucket}"),
    issues: [
      at(
        1,
        "descriptors[0].rate_limit.requests_per_unit",
        `expected an integer from 1 to ${MAX_RULE_LIMIT}, received "0"`,
      ),
    ],
  },
  {
    name: "shadow_mode not a boolean",
    text: "domain: d\ndescriptors:\n  - key: k\n    shadow_mode: sometimes\n",
    issues: [at(1, "descriptors[0].shadow_mode", 'expected true or false, received "sometimes"')],
  },
  {
    name: "a document that is not a mapping",
    text: "- domain: d\n",
    issues: [
      'rules.yaml, document 1: expected a mapping with "domain" and "descriptors", received a list',
    ],
  },
  {
    name: "bad YAML (the reference's bad_yaml)",
    text: "domain: d\ndescriptors: [\n",
    issues: [
      "rules.yaml, document 1: Flow sequence in block collection must be sufficiently indented and end with a ] at line 3, column 1",
    ],
  },
  {
    name: "a mapping key twice",
    text: "domain: d\ndomain: e\n",
    issues: ["rules.yaml, document 1: Map keys must be unique at line 2, column 1"],
  },
  {
    name: "an empty file",
    text: "# nothing yet\n",
    issues: ["rules.yaml: no domain: the file holds no YAML document with one"],
  },
];

for (const { name, text, issues } of INVALID) {
  Deno.test(`parseRules() rejects ${name}, naming the file, document and path`, () => {
    assert.deepEqual(issuesOf(text), issues);
  });
}

Deno.test("parseRules() reports every problem of every document at once", () => {
  const text = "domain: ''\n---\ndomain: d\ndescriptors:\n  - key: ''\n  - key: k\n" +
    "    rate_limit: {unit: fortnight, requests_per_unit: x}\n";
  assert.deepEqual(issuesOf(text), [
    at(1, "domain", "must not be empty"),
    at(2, "descriptors[0].key", "must not be empty"),
    at(2, "descriptors[1].rate_limit.unit", `invalid unit "fortnight": expected one of ${UNITS}`),
    at(
      2,
      "descriptors[1].rate_limit.requests_per_unit",
      `expected an integer from 0 to ${MAX_RULE_LIMIT}, received "x"`,
    ),
  ]);
});

Deno.test("parseRules() names each file of several in its errors", () => {
  assert.throws(
    () =>
      parseRules([
        { name: "a.yaml", text: "domain: d\n" },
        { name: "b.yaml", text: "domain: d\n" },
      ]),
    (error: unknown) => {
      assert.ok(error instanceof RulesError);
      assert.deepEqual(error.issues, [
        'b.yaml, document 1, domain: duplicate domain "d", already in a.yaml, document 1',
      ]);
      return true;
    },
  );
});

Deno.test("parseRules() bounds a file whose aliases expand without end (a billion laughs)", () => {
  let text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (let i = 1; i < 9; i++) {
    text += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]\n`;
  }
  const issues = issuesOf(`domain: d\n${text}`);
  assert.deepEqual(issues, ["rules.yaml, document 1: expands to more than 1000000 YAML nodes"]);
});

/**
 * Files envoyproxy/ratelimit accepts load here with the same meaning: its YAML reads every scalar
 * into a string field as written, units in any case, YAML 1.1 booleans, a comment-only document.
 */
Deno.test("parseRules() accepts what envoyproxy/ratelimit accepts, read the same way", () => {
  const rules = parseRules([{
    name: "rules.yaml",
    text: `# comment
domain: "d"
descriptors:
  - key: port
    value: 8080
    rate_limit: {unit: MINUTE, requests_per_unit: 10}
  - key: ratio
    value: 1.50
    rate_limit: {unit: Second, requests_per_unit: 0}
  - key: flag
    value: true
    shadow_mode: yes
    detailed_metric: on
    value_to_metric: true
    rate_limit: {name: flagged, unit: hour, requests_per_unit: 1_000}
  - key: free
    rate_limit: {unlimited: true, requests_per_unit: 5}
  - key: placeholder
    rate_limit:
    descriptors:
---
`,
  }]);
  const match = (key: string, value: string) => rules.match("d", [{ key, value }]);
  assert.equal(match("port", "8080")?.limit, 10);
  assert.equal(match("port", "8080")?.unit, "minute");
  assert.equal(match("ratio", "1.50")?.limit, 0);
  assert.equal(match("ratio", "1.5"), undefined);
  const flag = match("flag", "true");
  assert.equal(flag?.limit, 1000);
  assert.equal(flag?.shadowMode, true);
  assert.equal(flag?.detailedMetric, true);
  assert.equal(flag?.name, "flagged");
  assert.equal(match("free", "x")?.unlimited, true);
  assert.equal(match("free", "x")?.limit, 0);
  assert.equal(match("placeholder", "x"), undefined);
});

Deno.test("parseRules() reads the extensions: window, algorithm, burst, refill_rate", () => {
  const rules = parseRules([{
    name: "rules.yaml",
    text: `domain: d
descriptors:
  - key: a
    rate_limit: {window: 1h30m, requests_per_unit: 100}
  - key: b
    rate_limit: {unit: minute, requests_per_unit: 10, algorithm: gcra, burst: 3}
  - key: c
    rate_limit: {window: 90s, requests_per_unit: 10, algorithm: token_bucket, refill_rate: 2}
  - key: e
    rate_limit: {unit: year, requests_per_unit: 4294967295, algorithm: sliding_window}
  - key: m
    rate_limit: {unit: minute, requests_per_unit: 20, unit_multiplier: 5}
`,
  }]);
  const a = rules.match("d", [{ key: "a", value: "1" }])!;
  assert.deepEqual(
    [a.windowMs, a.unit, a.algorithm, a.limit],
    [5_400_000, undefined, "fixed_window", 100],
  );
  const b = rules.match("d", [{ key: "b", value: "1" }])!;
  assert.deepEqual([b.windowMs, b.unit, b.algorithm, b.burst], [60_000, "minute", "gcra", 3]);
  const c = rules.match("d", [{ key: "c", value: "1" }])!;
  assert.deepEqual([c.windowMs, c.algorithm, c.refillRate], [90_000, "token_bucket", 2]);
  const m = rules.match("d", [{ key: "m", value: "1" }])!;
  assert.deepEqual([m.windowMs, m.unit, m.unitMultiplier, m.limit], [300_000, "minute", 5, 20]);
  assert.equal(a.unitMultiplier, undefined);
  const e = rules.match("d", [{ key: "e", value: "1" }])!;
  assert.deepEqual([e.windowMs, e.limit], [31_536_000_000, MAX_RULE_LIMIT]);
});

Deno.test("parseRules() summarises files, hash, load time and every rule in file order", () => {
  const loadedAt = new Date("2026-01-02T03:04:05.000Z");
  const text = `domain: d
descriptors:
  - key: k1
    value: v1
    descriptors:
      - key: k2
        rate_limit: {unit: second, requests_per_unit: 5}
  - key: k1
    rate_limit: {name: base, unit: day, requests_per_unit: 1}
`;
  const rules = parseRules([{ name: "rules.yaml", text }], { loadedAt });
  const summary = rules.summary();
  assert.deepEqual(summary.files, ["rules.yaml"]);
  assert.match(summary.hash, /^[0-9a-f]{64}$/);
  assert.equal(summary.loadedAt, "2026-01-02T03:04:05.000Z");
  assert.deepEqual(
    summary.domains.map((d) => [d.domain, d.rules.map((r) => [r.path.join("."), r.limit])]),
    [["d", [["k1_v1.k2", 5], ["k1", 1]]]],
  );
  const again = parseRules([{ name: "rules.yaml", text }]).summary().hash;
  assert.equal(again, summary.hash);
  const changed = parseRules([{ name: "rules.yaml", text: text.replace("5}", "6}") }]);
  assert.notEqual(changed.summary().hash, summary.hash);
});
