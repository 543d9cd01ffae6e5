import assert from "node:assert/strict";
import { DASHBOARD_CSP } from "../../../src/http/routes/dashboard.ts";
import { makeTestApp } from "../../_helpers/app.ts";

/** Every `src` and `href` attribute of `html`. */
function references(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
}

async function page() {
  const { app } = makeTestApp();
  const res = await app.request("/dashboard");
  return { app, res, html: await res.text() };
}

/** The served script: the one `<script src>` of the page. */
async function script(): Promise<string> {
  const { app, html } = await page();
  const src = /<script src="([^"]+)"/.exec(html)![1]!;
  return await (await app.request(src)).text();
}

Deno.test("GET /dashboard answers an HTML page with a self-only CSP and no inline script", async () => {
  const { res, html } = await page();
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.equal(res.headers.get("content-security-policy"), DASHBOARD_CSP);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  const csp = DASHBOARD_CSP.split("; ");
  for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'"]) {
    assert.ok(csp.includes(directive), directive);
  }
  assert.ok(!DASHBOARD_CSP.includes("unsafe-"), DASHBOARD_CSP);

  const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 1);
  assert.match(scripts[0]![1]!, /^ src="\/dashboard\/assets\/dashboard\.[0-9a-f]{12}\.js" defer$/);
  assert.equal(scripts[0]![2], "");
  assert.doesNotMatch(html, /<style|\sstyle=|\son\w+=/i, "no inline style or event handler");
});

Deno.test("GET /dashboard references only local assets", async () => {
  const { html } = await page();
  assert.doesNotMatch(html, /https?:|\/\//, "no URL of another host, not even protocol-relative");
  assert.deepEqual(
    references(html).map((ref) => ref.replace(/\.[0-9a-f]{12}\./, ".<hash>.")).sort(),
    [
      "/dashboard/assets/dashboard.<hash>.css",
      "/dashboard/assets/dashboard.<hash>.js",
      "/docs",
      "data:,",
    ],
  );
  const js = await script();
  assert.doesNotMatch(js, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, "only the SVG namespace");
  assert.doesNotMatch(js, /localStorage|sessionStorage|document\.cookie|\beval\(|new Function/);
});

Deno.test("GET /dashboard/assets/{name} serves every referenced asset, typed and cached", async () => {
  const { app, html } = await page();
  const paths = references(html).filter((ref) => ref.startsWith("/dashboard/"));
  assert.equal(paths.length, 2);
  for (const path of paths) {
    const res = await app.request(path);
    assert.equal(res.status, 200, path);
    const expected = path.endsWith(".css")
      ? "text/css; charset=utf-8"
      : "text/javascript; charset=utf-8";
    assert.equal(res.headers.get("content-type"), expected, path);
    assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable", path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    const body = new Uint8Array(await res.arrayBuffer());
    assert.ok(body.length > 1000, `${path}: ${body.length} bytes`);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    assert.ok(path.includes(`.${hex.slice(0, 12)}.`), path);
  }
});

Deno.test("GET /dashboard/assets/{name} answers the JSON 404 for a name it does not serve", async () => {
  const { app } = makeTestApp();
  for (const path of ["/dashboard/assets/dashboard.js", "/dashboard/assets/..%2Fdeno.json"]) {
    const res = await app.request(path);
    assert.equal(res.status, 404, path);
    assert.equal((await res.json()).error.code, "not_found", path);
  }
  const post = await app.request("/dashboard", { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  await post.body?.cancel();
});

Deno.test("GET /dashboard has the contract's elements, each input labelled", async () => {
  const { html } = await page();
  const ids = [
    "status",
    "nodes",
    "total-allowed",
    "total-blocked",
    "chart-rates",
    "chart-latency",
    "blocked-keys",
    "counters",
    "overrides",
    "override-key",
    "override-limit",
    "override-window",
    "override-save",
    "auth-needed",
    "admin-token",
    "admin-token-save",
  ];
  for (const id of ids) assert.match(html, new RegExp(`\\sid="${id}"`), id);
  assert.match(html, /<input id="admin-token"[^>]* type="password"/);
  assert.match(html, /<section id="auth-needed"[^>]* hidden>/, "hidden until a 401");
  assert.match(html, /<button id="override-save" type="submit">/);
  assert.match(html, /<button id="admin-token-save" type="submit">/);
  for (const [, id] of html.matchAll(/<input id="([^"]+)"/g)) {
    assert.match(html, new RegExp(`<label for="${id}">`), `label of #${id}`);
  }
  // The override form and its table are both inside #overrides.
  const overrides = /<section id="overrides"[\s\S]*?<\/section>/.exec(html)![0];
  assert.match(overrides, /id="override-form"[\s\S]*<table/);
});

Deno.test("the dashboard script parses and uses the contract's ids, attributes and routes", async () => {
  const js = await script();
  // Parsed, not run (`Function` only compiles its body here, in Deno; the page never uses it).
  assert.doesNotThrow(() => new Function(js));
  for (
    const needle of [
      '"status"',
      '"nodes"',
      '"total-allowed"',
      '"total-blocked"',
      '"chart-rates"',
      '"chart-latency"',
      '"blocked-keys"',
      '"counters"',
      '"override-key"',
      '"override-limit"',
      '"override-window"',
      '"override-save"',
      '"auth-needed"',
      '"admin-token"',
      '"node-id"',
      '"state"',
      '"allowed"',
      '"blocked"',
      '"p99"',
      '"key"',
      '"reset"',
      '"delete"',
      '"/api/cluster"',
      '"/api/blocks?limit=20"',
      '"/api/counters?limit=20"',
      '"/api/limits"',
      "/api/counters/${enc(key)}/reset",
      "/api/limits/${enc(key)}",
      "const enc = encodeURIComponent",
      "Authorization: `Bearer ${adminToken}`",
      "const POLL_MS = 1000",
      "createElementNS(SVG_NS, name)",
    ]
  ) assert.ok(js.includes(needle), needle);
});

Deno.test("HEAD /dashboard and its assets answer like GET, without a body", async () => {
  const { app, html } = await page();
  for (const path of ["/dashboard", ...references(html).filter((r) => r.startsWith("/dash"))]) {
    const res = await app.request(path, { method: "HEAD" });
    assert.equal(res.status, 200, path);
    assert.equal(await res.text(), "", path);
  }
});
