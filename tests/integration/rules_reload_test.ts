import assert from "node:assert/strict";
import { join } from "node:path";
import { startNode, type TestNode } from "../_helpers/node_process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { integration as opts } from "../_helpers/options.ts";

type RulesAnswer = {
  hash: string;
  loaded_at: string;
  last_reload: { result: string; at: string; issues: string[] } | null;
  domains: { domain: string; rules: { path: string[]; requests_per_unit: number }[] }[];
};

const rule = (limit: number | string) =>
  `domain: edge\ndescriptors:\n  - key: user\n    rate_limit: {unit: minute, requests_per_unit: ${limit}}\n`;

/** Writes `text` to `path` by a rename, as editors and Kubernetes do. */
async function replaceFile(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(temp, text);
  await Deno.rename(temp, path);
}

async function rulesOf(node: TestNode): Promise<RulesAnswer> {
  const res = await fetch(`${node.url}/api/rules`);
  assert.equal(res.status, 200);
  return await res.json();
}

const limitOf = (answer: RulesAnswer) => answer.domains[0]?.rules[0]?.requests_per_unit;

async function reloads(node: TestNode, result: "ok" | "error"): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = new RegExp(
    `^ratelimiter_rules_reloads_total\\{result="${result}"[^}]*\\} (\\d+)$`,
    "m",
  )
    .exec(text);
  assert.ok(line, `no ratelimiter_rules_reloads_total{result="${result}"} in /metrics`);
  return Number(line[1]);
}

Deno.test({
  ...opts,
  name: "a node reloads its rules file on change and on SIGHUP, and keeps them on an invalid one",
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = join(dir, "rules.yaml");
    await Deno.writeTextFile(path, rule(1));
    await using node = await startNode({ env: { RATELIMITER_RULES_FILE: path } });
    try {
      const first = await rulesOf(node);
      assert.equal(limitOf(first), 1);
      assert.equal(first.last_reload, null);

      // A change is in GET /api/rules within a second.
      await replaceFile(path, rule(2));
      await waitFor(
        "the changed rules within 1 s",
        async () => limitOf(await rulesOf(node)) === 2,
        1000,
      );
      assert.equal(await reloads(node, "ok"), 1);
      const second = await rulesOf(node);
      assert.notEqual(second.hash, first.hash);

      // An invalid change: the rules in force stay, the failure is counted and shown.
      await replaceFile(path, rule("lots"));
      await waitFor(
        "the refused reload",
        async () => (await rulesOf(node)).last_reload?.result === "error",
      );
      const kept = await rulesOf(node);
      assert.equal(limitOf(kept), 2);
      assert.equal(kept.hash, second.hash);
      assert.match(
        kept.last_reload!.issues[0]!,
        /^.*rules\.yaml, document 1, descriptors\[0\]\.rate_limit\.requests_per_unit: /,
      );
      assert.equal(await reloads(node, "error"), 1);
      const failures = node.logs.filter((l) => l.event === "rules_reload_failed");
      assert.equal(failures.length, 1);

      // SIGHUP reloads even an unchanged file.
      await replaceFile(path, rule(3));
      await waitFor("the fixed rules", async () => limitOf(await rulesOf(node)) === 3);
      const okBefore = await reloads(node, "ok");
      const atBefore = (await rulesOf(node)).last_reload!.at;
      Deno.kill(node.pid, "SIGHUP");
      await waitFor("the SIGHUP reload", async () => (await reloads(node, "ok")) === okBefore + 1);
      const after = await rulesOf(node);
      assert.equal(limitOf(after), 3);
      assert.ok(after.last_reload!.at > atBefore);
      assert.ok(after.loaded_at > atBefore);
      // Still serving after all of it.
      assert.equal((await fetch(`${node.url}/health`)).status, 200);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...opts,
  name: "a node with an invalid rules file at start exits 1, naming the file",
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = join(dir, "rules.yaml");
    await Deno.writeTextFile(path, rule(1).replace("minute", "fortnight"));
    try {
      await using node = await startNode({
        env: { RATELIMITER_RULES_FILE: path },
        waitReady: false,
      });
      const status = await node.status;
      assert.equal(status.code, 1);
      const line = node.logs.find((l) => l.event === "invalid_rules");
      assert.ok(line, JSON.stringify(node.logs));
      assert.deepEqual(line.issues, [
        `${path}, document 1, descriptors[0].rate_limit.unit: invalid unit "fortnight": ` +
        "expected one of second, minute, hour, day, week, month, year",
      ]);
      assert.ok(!node.logs.some((l) => l.event === "listening"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...opts,
  name: "a node with a missing rules file at start exits 1, naming the path",
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = join(dir, "absent.yaml");
    try {
      await using node = await startNode({
        env: { RATELIMITER_RULES_FILE: path },
        waitReady: false,
      });
      assert.equal((await node.status).code, 1);
      const line = node.logs.find((l) => l.event === "invalid_rules");
      assert.match((line?.issues as string[])[0]!, new RegExp(`^${path}: cannot read the rules`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
