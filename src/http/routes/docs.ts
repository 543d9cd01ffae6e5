/**
 * `GET /docs`: an interactive API reference (Swagger UI) of the document at `/openapi.json`,
 * served entirely by the node. Its JavaScript and CSS come from the npm package `swagger-ui-dist`
 * as text imports (dynamic, with literal specifiers), so they are part of the module graph: cached
 * by `deno install`, embedded by `deno compile`, and read without any file permission. No CDN, so the page works in a closed
 * network.
 *
 * @module
 */
import { Hono } from "hono";
import { ApiError } from "../../errors.ts";

/** Where the page's assets are served; each file name carries a hash of its content. */
export const DOCS_ASSETS_PATH = "/docs/assets";

/**
 * The page's Content-Security-Policy: scripts, styles and requests only to this node; images
 * also as `data:` URLs, which Swagger UI's CSS uses for its icons. No inline script or style.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Options for {@linkcode createDocsRoutes}. */
export interface DocsRoutesOptions {
  /** URL of the OpenAPI document the page renders. @default {"/openapi.json"} */
  specUrl?: string;
  /** Title of the page. @default {"ratelimiter-service API"} */
  title?: string;
}

/** A file served under a name that carries a hash of its content. */
export interface Asset {
  /** Served name, with a hash of the content: `swagger-ui-bundle.3f2a9c0d17be.js`. */
  name: string;
  contentType: string;
  body: Uint8Array<ArrayBuffer>;
}

interface DocsFiles {
  html: string;
  assets: Map<string, Asset>;
}

/** A script file rather than an inline script, so the CSP needs no `'unsafe-inline'`. */
function initScript(specUrl: string): string {
  // `validatorUrl: null`: Swagger UI would otherwise send the document to validator.swagger.io.
  return `"use strict";
window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(specUrl)},
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
});
`;
}

/**
 * `text` as an {@linkcode Asset} named `<stem>.<hash>.<ext>`, the hash being the first 12 hex
 * digits of the SHA-256 of its UTF-8 bytes.
 */
export async function asset(
  stem: string,
  ext: string,
  contentType: string,
  text: string,
): Promise<Asset> {
  const body = new TextEncoder().encode(text);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  const hash = Array.from(digest.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
  return { name: `${stem}.${hash}.${ext}`, contentType, body };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

async function buildFiles(specUrl: string, title: string): Promise<DocsFiles> {
  // Imported on first use, so a node that never serves the page does not hold ~4 MB of text. The
  // specifiers are literals: `deno compile` embeds them like static imports.
  const [{ default: swaggerUiCss }, { default: swaggerUiBundle }] = await Promise.all([
    import("swagger-ui-dist/swagger-ui.css", { with: { type: "text" } }),
    import("swagger-ui-dist/swagger-ui-bundle.js", { with: { type: "text" } }),
  ]);
  const [css, bundle, init] = await Promise.all([
    asset("swagger-ui", "css", "text/css; charset=utf-8", swaggerUiCss),
    asset("swagger-ui-bundle", "js", "text/javascript; charset=utf-8", swaggerUiBundle),
    asset("init", "js", "text/javascript; charset=utf-8", initScript(specUrl)),
  ]);
  const href = (a: Asset) => `${DOCS_ASSETS_PATH}/${a.name}`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${href(css)}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${href(bundle)}"></script>
<script src="${href(init)}"></script>
</body>
</html>
`;
  return { html, assets: new Map([css, bundle, init].map((a) => [a.name, a])) };
}

/**
 * `GET /docs` (the page, revalidated on every load) and `GET /docs/assets/{name}` (its files,
 * cached for a year: a new content gets a new name). Nothing is imported, encoded or hashed until
 * the first request.
 */
export function createDocsRoutes(options: DocsRoutesOptions = {}): Hono {
  const specUrl = options.specUrl ?? "/openapi.json";
  const title = options.title ?? "ratelimiter-service API";
  let files: Promise<DocsFiles> | undefined;
  // A failed build (an import that could not load) is retried by the next request, not kept.
  const getFiles = () =>
    files ??= buildFiles(specUrl, title).catch((error) => {
      files = undefined;
      throw error;
    });
  const app = new Hono();

  app.get("/docs", async (c) => {
    const { html } = await getFiles();
    return c.body(html, 200, {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-cache",
      "Content-Security-Policy": DOCS_CSP,
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
    });
  });

  app.get(`${DOCS_ASSETS_PATH}/:name`, async (c) => {
    const name = c.req.param("name");
    const found = (await getFiles()).assets.get(name);
    if (found === undefined) {
      throw new ApiError(404, "not_found", `No docs asset named ${JSON.stringify(name)}`);
    }
    return c.body(found.body, 200, {
      "Content-Type": found.contentType,
      "Cache-Control": "public, max-age=31536000, immutable",
      "X-Content-Type-Options": "nosniff",
    });
  });

  return app;
}
