import assert from "node:assert/strict";
import { join } from "node:path";
import { createLogger } from "../../src/log.ts";
import { Rules } from "../../src/rules/rules_holder.ts";
import { RulesError } from "../../src/rules/rules_error.ts";
import { waitFor } from "../_helpers/wait.ts";

const rule = (limit: number | string) =>
  `domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: ${limit}}\n`;

const limitOf = (rules: Rules) => rules.current().match("d", [{ key: "k", value: "v" }])?.limit;

/** Writes `text` to `path` by a rename, as editors and Kubernetes do: never seen half-written. */
async function replaceFile(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(temp, text);
  await Deno.rename(temp, path);
}

/** A temp dir with `rules.yaml`, rules loaded from it, their log lines and reload results. */
async function setup(text: string, watch = false) {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "rules.yaml");
  await Deno.writeTextFile(path, text);
  const lines: Record<string, unknown>[] = [];
  const results: string[] = [];
  const rules = await Rules.load({
    path,
    logger: createLogger({ write: (line) => lines.push(JSON.parse(line)) }),
    onReload: (result) => results.push(result),
    watch,
    debounceMs: 20,
  });
  return {
    dir,
    path,
    rules,
    lines,
    results,
    async [Symbol.asyncDispose]() {
      await rules.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("Rules.load() without a path holds no rules and reloads nothing", async () => {
  const results: string[] = [];
  const rules = await Rules.load({
    path: undefined,
    logger: createLogger({ write: () => {} }),
    onReload: (r) => results.push(r),
  });
  assert.equal(rules.current().hasDomain("d"), false);
  assert.equal(await rules.reload(), true);
  assert.deepEqual(results, []);
  await rules.close();
});

Deno.test("Rules.load() throws a RulesError for an invalid file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "rules.yaml");
    await Deno.writeTextFile(path, rule("x"));
    await assert.rejects(
      Rules.load({ path, logger: createLogger({ write: () => {} }) }),
      (error: unknown) => error instanceof RulesError && error.issues[0]!.startsWith(path),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Rules.reload() swaps in valid rules and counts ok", async () => {
  await using t = await setup(rule(1));
  assert.equal(limitOf(t.rules), 1);
  const before = t.rules.current();
  await replaceFile(t.path, rule(2));
  assert.equal(await t.rules.reload(), true);
  assert.equal(limitOf(t.rules), 2);
  assert.notEqual(t.rules.current(), before);
  assert.equal(before.match("d", [{ key: "k", value: "v" }])?.limit, 1, "the old set is unchanged");
  assert.deepEqual(t.results, ["ok"]);
  assert.equal(t.rules.lastReload?.result, "ok");
  assert.ok(t.lines.some((l) => l.event === "rules_reloaded"));
});

Deno.test("Rules.reload() keeps the old rules on an invalid file, counts error, logs once per failure", async () => {
  await using t = await setup(rule(1));
  await replaceFile(t.path, rule("x"));
  assert.equal(await t.rules.reload(), false);
  assert.equal(await t.rules.reload(), false);
  assert.equal(limitOf(t.rules), 1);
  assert.deepEqual(t.results, ["error", "error"]);
  const failures = () => t.lines.filter((l) => l.event === "rules_reload_failed");
  assert.equal(failures().length, 1, "the same failure is logged once");
  assert.match((failures()[0]!.issues as string[])[0]!, /requests_per_unit: expected an integer/);
  assert.equal(t.rules.lastReload?.result, "error");
  assert.equal(t.rules.lastReload?.issues.length, 1);
  await replaceFile(t.path, rule("y"));
  assert.equal(await t.rules.reload(), false);
  assert.equal(failures().length, 2, "a different failure is logged again");
  await replaceFile(t.path, rule(3));
  assert.equal(await t.rules.reload(), true);
  assert.equal(limitOf(t.rules), 3);
  assert.deepEqual(t.results, ["error", "error", "error", "ok"]);
});

Deno.test("Rules.reload(false) skips files whose contents did not change", async () => {
  await using t = await setup(rule(1));
  assert.equal(await t.rules.reload(false), true);
  assert.deepEqual(t.results, []);
  await replaceFile(t.path, rule("x"));
  assert.equal(await t.rules.reload(false), false);
  assert.equal(await t.rules.reload(false), false);
  assert.deepEqual(t.results, ["error"], "an unchanged invalid file is not counted again");
});

Deno.test("Rules.reload() runs one reload at a time; one asked for meanwhile follows it", async () => {
  await using t = await setup(rule(1));
  await replaceFile(t.path, rule(2));
  const [a, b] = await Promise.all([t.rules.reload(), t.rules.reload()]);
  assert.deepEqual([a, b], [true, true]);
  assert.equal(limitOf(t.rules), 2);
  assert.deepEqual(t.results, ["ok", "ok"]);
});

Deno.test("Rules watches the file: a change by rename is loaded, an invalid one kept out", async () => {
  await using t = await setup(rule(1), true);
  await replaceFile(t.path, rule(2));
  await waitFor("the new rules", () => limitOf(t.rules) === 2);
  await replaceFile(t.path, rule("x"));
  await waitFor("the failed reload", () => t.results.includes("error"));
  assert.equal(limitOf(t.rules), 2);
  await Deno.writeTextFile(t.path, rule(4));
  await waitFor("the rules written in place", () => limitOf(t.rules) === 4);
});

Deno.test("Rules watches a directory: a new file's domain is loaded", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "a.yaml"), rule(1));
    const rules = await Rules.load({
      path: dir,
      logger: createLogger({ write: () => {} }),
      debounceMs: 20,
    });
    try {
      await replaceFile(join(dir, "b.yaml"), rule(2).replace("domain: d", "domain: e"));
      await waitFor("domain e", () => rules.current().hasDomain("e"));
      assert.equal(limitOf(rules), 1);
    } finally {
      await rules.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Rules.reload() asked with force while an unforced one runs is forced", async () => {
  await using t = await setup(rule(1));
  const [a, b] = await Promise.all([t.rules.reload(false), t.rules.reload(true)]);
  assert.deepEqual([a, b], [true, true]);
  assert.deepEqual(t.results, ["ok"], "the unchanged file is reloaded once, by the forced call");
});
