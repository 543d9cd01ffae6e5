import assert from "node:assert/strict";
import { join } from "node:path";
import { loadRules, MAX_RULES_FILE_BYTES, readRulesSources } from "../../src/rules/load_rules.ts";
import { RulesError } from "../../src/rules/rules_error.ts";

const rule = (domain: string, limit: number) =>
  `domain: ${domain}\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: ${limit}}\n`;

async function issues(path: string): Promise<string[]> {
  try {
    await loadRules(path);
    return [];
  } catch (error) {
    if (!(error instanceof RulesError)) throw error;
    return error.issues;
  }
}

Deno.test("loadRules() reads one file of several documents, one domain each", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "rules.yaml");
    await Deno.writeTextFile(path, `${rule("a", 1)}---\n${rule("b", 2)}---\n`);
    const rules = await loadRules(path);
    assert.equal(rules.match("a", [{ key: "k", value: "x" }])?.limit, 1);
    assert.equal(rules.match("b", [{ key: "k", value: "x" }])?.limit, 2);
    assert.deepEqual(rules.summary().files, [path]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRules() reads a directory's *.yaml and *.yml files in name order, nothing else", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "b.yml"), rule("b", 2));
    await Deno.writeTextFile(join(dir, "a.yaml"), rule("a", 1));
    await Deno.writeTextFile(join(dir, "c.yaml.bak"), rule("c", 3));
    await Deno.writeTextFile(join(dir, ".hidden.yaml"), rule("h", 4));
    await Deno.writeTextFile(join(dir, "notes.txt"), "not yaml: [");
    await Deno.mkdir(join(dir, "sub.yaml"));
    const rules = await loadRules(dir);
    assert.deepEqual(rules.summary().files, [join(dir, "a.yaml"), join(dir, "b.yml")]);
    assert.deepEqual(rules.summary().domains.map((d) => d.domain), ["a", "b"]);
    assert.equal(rules.hasDomain("c"), false);
    assert.equal(rules.hasDomain("h"), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRules() refuses a domain defined in two files of a directory, naming both", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "1.yaml"), rule("a", 1));
    await Deno.writeTextFile(join(dir, "2.yaml"), rule("a", 2));
    assert.deepEqual(await issues(dir), [
      `${join(dir, "2.yaml")}, document 1, domain: duplicate domain "a", already in ${
        join(dir, "1.yaml")
      }, document 1`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRules() accepts an empty directory as no rules", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rules = await loadRules(dir);
    assert.deepEqual(rules.summary().domains, []);
    assert.deepEqual(rules.summary().files, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readRulesSources() names a path it cannot read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = join(dir, "missing.yaml");
    const found = await issues(missing);
    assert.equal(found.length, 1);
    assert.match(found[0]!, new RegExp(`^${missing}: cannot read the rules: `));
    await assert.rejects(readRulesSources(missing), RulesError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readRulesSources() refuses a file over MAX_RULES_FILE_BYTES unread", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "huge.yaml");
    const file = await Deno.open(path, { write: true, create: true });
    await file.truncate(MAX_RULES_FILE_BYTES + 1); // sparse: nothing is written
    file.close();
    assert.deepEqual(await issues(path), [
      `${path}: the file is ${MAX_RULES_FILE_BYTES + 1} bytes, larger than ${MAX_RULES_FILE_BYTES}`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
