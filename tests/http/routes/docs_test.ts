import assert from "node:assert/strict";
import { Hono } from "hono";
import { createDocsRoutes, DOCS_CSP } from "../../../src/http/routes/docs.ts";
import { makeTestApp } from "../../_helpers/app.ts";

/** Every `src` and `href` attribute of `html`. */
function references(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
}

/** A file of the `swagger-ui-dist` package, as installed in Deno's npm cache. */
async function packageFile(name: string): Promise<Uint8Array> {
  return await Deno.readFile(new URL(import.meta.resolve(`swagger-ui-dist/${name}`)));
}

/** The page's local assets, fetched: path, response and body. */
async function fetchAssets(app: { request: Hono["request"] }, html: string) {
  const paths = references(html).filter((ref) => ref !== "data:,");
  return await Promise.all(paths.map(async (path) => {
    const res = await app.request(path);
    return { path, res, body: new Uint8Array(await res.arrayBuffer()) };
  }));
}

Deno.test("GET /docs answers an HTML page with a self-only CSP and no inline script", async () => {
  const { app } = makeTestApp();
  const res = await app.request("/docs");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.equal(res.headers.get("content-security-policy"), DOCS_CSP);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  const csp = DOCS_CSP.split("; ");
  assert.ok(csp.includes("default-src 'none'"));
  assert.ok(csp.includes("script-src 'self'"));
  assert.ok(!DOCS_CSP.includes("unsafe-"), DOCS_CSP);

  const html = await res.text();
  assert.match(html, /<div id="swagger-ui"><\/div>/);
  // Each script is a file: an inline one would be refused by the CSP.
  const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 2);
  for (const [, attributes, body] of scripts) {
    assert.match(attributes!, /^ src="\/docs\/assets\/[^"]+"$/);
    assert.equal(body, "");
  }
  assert.doesNotMatch(html, /<style|\sstyle=|\son\w+=/i);
});

Deno.test("GET /docs references only local assets, and the page loads /openapi.json", async () => {
  const { app } = makeTestApp();
  const html = await (await app.request("/docs")).text();
  assert.doesNotMatch(html, /https?:|\/\//, "no URL of another host, not even protocol-relative");
  const refs = references(html);
  assert.deepEqual(
    refs.map((ref) => ref.replace(/\.[0-9a-f]{12}\./, ".<hash>.")).sort(),
    [
      "/docs/assets/init.<hash>.js",
      "/docs/assets/swagger-ui-bundle.<hash>.js",
      "/docs/assets/swagger-ui.<hash>.css",
      "data:,",
    ],
  );
  const init = refs.find((ref) => ref.includes("/init."))!;
  const script = await (await app.request(init)).text();
  assert.match(script, /url: "\/openapi\.json"/);
  // Swagger UI would otherwise send the document to validator.swagger.io.
  assert.match(script, /validatorUrl: null/);
});

Deno.test("GET /docs/assets/{name} serves every referenced asset, typed and cached", async () => {
  const { app } = makeTestApp();
  const html = await (await app.request("/docs")).text();
  const assets = await fetchAssets(app, html);
  assert.equal(assets.length, 3);
  const decoder = new TextDecoder();
  for (const { path, res, body } of assets) {
    assert.equal(res.status, 200, path);
    const expected = path.endsWith(".css")
      ? "text/css; charset=utf-8"
      : "text/javascript; charset=utf-8";
    assert.equal(res.headers.get("content-type"), expected, path);
    assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable", path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    // The name carries the first 12 hex digits of the content's SHA-256.
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    assert.ok(path.includes(`.${hex.slice(0, 12)}.`), path);
    if (path.includes("swagger-ui-bundle")) {
      assert.ok(body.length > 500_000, `${path}: ${body.length} bytes`);
      assert.deepEqual(body, await packageFile("swagger-ui-bundle.js"), "the package's bytes");
      assert.match(decoder.decode(body.subarray(0, 4096)), /SwaggerUIBundle/);
    } else if (path.endsWith(".css")) {
      assert.ok(body.length > 50_000, `${path}: ${body.length} bytes`);
      assert.deepEqual(body, await packageFile("swagger-ui.css"), "the package's bytes");
      assert.match(decoder.decode(body), /\.swagger-ui/);
    } else {
      assert.ok(body.length > 50, `${path}: ${body.length} bytes`);
    }
  }
});

Deno.test("GET /docs/assets/{name} answers the JSON 404 for a name it does not serve", async () => {
  const { app } = makeTestApp();
  for (const path of ["/docs/assets/swagger-ui-bundle.js", "/docs/assets/..%2Fdeno.json"]) {
    const res = await app.request(path);
    assert.equal(res.status, 404, path);
    assert.equal((await res.json()).error.code, "not_found", path);
  }
  const post = await app.request("/docs", { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  await post.body?.cancel();
});

Deno.test("HEAD /docs and its assets answer like GET, without a body", async () => {
  const { app } = makeTestApp();
  const html = await (await app.request("/docs")).text();
  for (const path of ["/docs", ...references(html).filter((r) => r.startsWith("/"))]) {
    const res = await app.request(path, { method: "HEAD" });
    assert.equal(res.status, 200, path);
    assert.equal(await res.text(), "", path);
  }
});

Deno.test("createDocsRoutes() renders the document and title it is given", async () => {
  const app = new Hono().route("/", createDocsRoutes({ specUrl: "/stand-in.json", title: "<T>" }));
  const html = await (await app.request("/docs")).text();
  assert.match(html, /<title>&#60;T&#62;<\/title>/);
  const [init] = (await fetchAssets(app, html)).filter(({ path }) => path.includes("/init."));
  assert.match(new TextDecoder().decode(init!.body), /url: "\/stand-in\.json"/);
});
