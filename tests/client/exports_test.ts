/**
 * The package's exports (`deno.json`): each is a module of the client or middleware whose whole
 * graph stays inside `src/client` and `src/middleware` (no npm, jsr or remote import, type-only
 * ones included, so a consumer's bundle and type checker need nothing else), whose documentation
 * passes `deno doc --lint`, and the package version is the service's.
 */
import assert from "node:assert/strict";
import { VERSION } from "../../src/version.ts";

const ROOT = new URL("../../", import.meta.url);
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
const exported: string[] = Object.values(config.exports as Record<string, string>)
  .map((path) => new URL(path, ROOT).pathname);

async function deno(...args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { ok: out.success, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("deno.json exports the client and middleware at the service's version", () => {
  assert.equal(config.version, VERSION);
  assert.equal(typeof config.name, "string");
  assert.deepEqual(Object.keys(config.exports).sort(), [
    "./client",
    "./middleware/fetch",
    "./middleware/hono",
  ]);
});

Deno.test("each export imports only client and middleware modules (deno info)", async () => {
  const allowed = [new URL("src/client/", ROOT).href, new URL("src/middleware/", ROOT).href];
  for (const path of exported) {
    const info = await deno("info", "--json", path);
    assert.ok(info.ok, info.stderr);
    const modules: { specifier: string }[] = JSON.parse(info.stdout).modules;
    const outside = modules.map((m) => m.specifier)
      .filter((s) => !allowed.some((dir) => s.startsWith(dir)));
    assert.deepEqual(outside, [], `${path} imports ${outside.join(", ")}`);
  }
});

Deno.test("each export passes deno doc --lint", async () => {
  const lint = await deno("doc", "--lint", ...exported);
  assert.ok(lint.ok, lint.stdout + lint.stderr);
});
