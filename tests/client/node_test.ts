/**
 * The client under Node: bundled to one JavaScript module (`deno bundle`, as `deno task
 * bundle:client` does), imported by a Node script that checks keys against a node started here.
 * Skipped, saying so, when `node` is not on PATH.
 */
import assert from "node:assert/strict";
import { startNode } from "../_helpers/node_process.ts";
import { freePort } from "../_helpers/redis_server.ts";
import { integration } from "../_helpers/options.ts";

const CLIENT = new URL("../../src/client/mod.ts", import.meta.url).pathname;

/** Node's version, or undefined when `node` is not on PATH. */
async function nodeVersion(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("node", { args: ["--version"], stdout: "piped" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

const SCRIPT = `
import { createClient, RatelimiterError } from "./client.mjs";
const [url, down] = process.argv.slice(2);
const client = createClient({ url });
const out = {};
out.first = await client.check({ key: "node:1", limit: 1, window_ms: 60000 });
out.second = await client.check({ key: "node:1", limit: 1, window_ms: 60000 });
out.peek = await client.peek("node:1", { limit: 1, window_ms: 60000 });
out.down = await createClient({ url: down, onUnavailable: "closed" }).check({ key: "k" });
try {
  await client.check({ key: "node:1", limit: 0 });
} catch (error) {
  out.refused = { isError: error instanceof RatelimiterError, code: error.code };
}
console.log(JSON.stringify(out));
`;

Deno.test({
  ...integration,
  name: "the client bundled by deno bundle checks keys from Node",
  async fn() {
    const version = await nodeVersion();
    if (version === undefined) {
      console.log("SKIPPED: node is not on PATH; install Node 20+ to run the Node client test");
      return;
    }
    await using node = await startNode();
    const dir = await Deno.makeTempDir({ prefix: "client_node_" });
    try {
      const bundle = await new Deno.Command(Deno.execPath(), {
        args: ["bundle", "--quiet", "--platform=browser", "--output", `${dir}/client.mjs`, CLIENT],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(bundle.success, new TextDecoder().decode(bundle.stderr));
      const bundled = await Deno.readTextFile(`${dir}/client.mjs`);
      // Nothing but fetch: no import of any package survives in the bundle.
      assert.doesNotMatch(bundled, /\bimport\s*(\(|["'{*])|\brequire\(/);
      await Deno.writeTextFile(`${dir}/script.mjs`, SCRIPT);
      const run = await new Deno.Command("node", {
        args: [`${dir}/script.mjs`, node.url, `http://127.0.0.1:${freePort()}`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(run.stderr);
      assert.ok(run.success, `node ${version} failed: ${stderr}`);
      const out = JSON.parse(new TextDecoder().decode(run.stdout));
      assert.equal(out.first.allowed, true);
      assert.equal(out.second.allowed, false);
      assert.ok(out.second.retry_after_seconds >= 1);
      assert.equal(out.peek.current_count, 1);
      assert.deepEqual(
        [out.down.allowed, out.down.unavailable, out.down.reason],
        [false, true, "network"],
      );
      assert.deepEqual(out.refused, { isError: true, code: "invalid_request" });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
