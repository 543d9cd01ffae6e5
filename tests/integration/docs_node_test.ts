import assert from "node:assert/strict";
import { startNode } from "../_helpers/node_process.ts";
import { integration as opts } from "../_helpers/options.ts";

Deno.test({
  ...opts,
  name: "a node started with its own permissions serves /docs and every asset of the page",
  fn: async () => {
    // No --allow-read: the assets are text imports, part of the module graph.
    await using node = await startNode();
    const page = await fetch(`${node.url}/docs`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    const html = await page.text();
    const paths = [...html.matchAll(/\s(?:src|href)="(\/docs\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.equal(paths.length, 3);
    for (const path of paths) {
      const res = await fetch(`${node.url}${path}`);
      const body = new Uint8Array(await res.arrayBuffer());
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-length"), String(body.length), path);
      assert.ok(body.length > 50, `${path}: ${body.length} bytes`);
    }
  },
});
