import assert from "node:assert/strict";
import { promtool, PROMTOOL_MISSING_MESSAGE } from "./promtool.ts";

const HELPER = new URL("./promtool.ts", import.meta.url).href;

Deno.test("promtool() without promtool on PATH fails with one line naming the package", async () => {
  const empty = await Deno.makeTempDir();
  try {
    const script = `${empty}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { promtool } from ${JSON.stringify(HELPER)};\nawait promtool(["--version"]);\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-run", "--allow-read", script],
      env: { PATH: empty },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1);
    assert.ok(stderr.includes(PROMTOOL_MISSING_MESSAGE), stderr);
    assert.doesNotMatch(stderr, /NotFound:/);
    assert.doesNotMatch(PROMTOOL_MISSING_MESSAGE, /\n/);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("promtool() passes stdin and reports the exit code and output", async () => {
  const good = await promtool(
    ["check", "metrics"],
    "# HELP up Whether the target answers.\n# TYPE up gauge\nup 1\n",
  );
  assert.equal(good.code, 0, good.output);
  const bad = await promtool(["check", "metrics"], "not metrics\n");
  assert.notEqual(bad.code, 0);
  assert.ok(bad.output.length > 0);
});
