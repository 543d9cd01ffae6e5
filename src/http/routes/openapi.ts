import { Hono } from "hono";
import { buildOpenApiDocument, type OpenApiOptions } from "../openapi.ts";

/**
 * `GET /openapi.json`: the OpenAPI 3.1 document of the API. Built and serialised once, here, when
 * the app is built: a request only copies the bytes.
 */
export function createOpenApiRoutes(options: OpenApiOptions): Hono {
  const body = JSON.stringify(buildOpenApiDocument(options));
  const app = new Hono();
  app.get("/openapi.json", (c) => c.body(body, 200, { "Content-Type": "application/json" }));
  return app;
}
