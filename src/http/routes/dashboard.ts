/**
 * `GET /dashboard`: the operator dashboard, a page that polls the node's JSON API every second
 * (`/api/cluster`, `/api/blocks`, `/api/counters`, `/api/limits`) and acts through it (resets,
 * overrides). Its three files live in `src/http/dashboard/` and are text imports, so they are part
 * of the module graph: embedded by `deno compile`, read without any file permission, no build step
 * and no CDN. Nothing here is on the `/check` path.
 *
 * @module
 */
import { Hono } from "hono";
import { ApiError } from "../../errors.ts";
import { type Asset, asset, DOCS_CSP } from "./docs.ts";
import indexHtml from "../dashboard/index.html" with { type: "text" };
import dashboardJs from "../dashboard/dashboard.js" with { type: "text" };
import dashboardCss from "../dashboard/dashboard.css" with { type: "text" };

/** Where the page's assets are served; each file name carries a hash of its content. */
export const DASHBOARD_ASSETS_PATH = "/dashboard/assets";

/**
 * The page's Content-Security-Policy, the one of `/docs`: scripts, styles and requests only to this
 * node, no inline script or style, no form posted anywhere (the page's forms are sent by its
 * script).
 */
export const DASHBOARD_CSP = DOCS_CSP;

interface DashboardFiles {
  html: string;
  assets: Map<string, Asset>;
}

async function buildFiles(): Promise<DashboardFiles> {
  const [css, js] = await Promise.all([
    asset("dashboard", "css", "text/css; charset=utf-8", dashboardCss),
    asset("dashboard", "js", "text/javascript; charset=utf-8", dashboardJs),
  ]);
  // The page names its files as they are in the repository; it is served with the hashed names.
  const html = indexHtml
    .replace('href="dashboard.css"', `href="${DASHBOARD_ASSETS_PATH}/${css.name}"`)
    .replace('src="dashboard.js"', `src="${DASHBOARD_ASSETS_PATH}/${js.name}"`);
  return { html, assets: new Map([css, js].map((a) => [a.name, a])) };
}

/**
 * `GET /dashboard` (the page, revalidated on every load) and `GET /dashboard/assets/{name}` (its
 * script and style sheet, cached for a year: a new content gets a new name). The files are hashed
 * on the first request.
 */
export function createDashboardRoutes(): Hono {
  let files: Promise<DashboardFiles> | undefined;
  const getFiles = () =>
    files ??= buildFiles().catch((error) => {
      files = undefined;
      throw error;
    });
  const app = new Hono();

  app.get("/dashboard", async (c) => {
    const { html } = await getFiles();
    return c.body(html, 200, {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-cache",
      "Content-Security-Policy": DASHBOARD_CSP,
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
    });
  });

  app.get(`${DASHBOARD_ASSETS_PATH}/:name`, async (c) => {
    const name = c.req.param("name");
    const found = (await getFiles()).assets.get(name);
    if (found === undefined) {
      throw new ApiError(404, "not_found", `No dashboard asset named ${JSON.stringify(name)}`);
    }
    return c.body(found.body, 200, {
      "Content-Type": found.contentType,
      "Cache-Control": "public, max-age=31536000, immutable",
      "X-Content-Type-Options": "nosniff",
    });
  });

  return app;
}
