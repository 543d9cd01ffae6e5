/** The TypeScript examples of the README's "Client and middleware" section type-check. */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

/** The `ts` code blocks of the README section titled `title`. */
async function examples(title: string): Promise<string[]> {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has no "## ${title}" section`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

Deno.test("the README's client and middleware examples type-check", async () => {
  const blocks = await examples("Client and middleware");
  assert.equal(blocks.length, 2);
  const dir = await Deno.makeTempDir({ prefix: "readme_client_" });
  try {
    const files: string[] = [];
    for (const [i, block] of blocks.entries()) {
      // The package's export names, as a consumer writes them, mapped to the modules they name.
      const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
      const code = block.replace(
        /"(@ratelimiter\/service)(\/[^"]+)"/g,
        (whole, name: string, sub: string) => {
          assert.equal(name, config.name, `${whole} is not this package`);
          const target = config.exports[`.${sub}`];
          assert.ok(target !== undefined, `${whole} is not an export of deno.json`);
          return JSON.stringify(new URL(target, ROOT).href);
        },
      );
      const file = `${dir}/example_${i}.ts`;
      await Deno.writeTextFile(file, code);
      files.push(file);
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--config", new URL("deno.json", ROOT).pathname, ...files],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
