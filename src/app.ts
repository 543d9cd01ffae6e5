import { Hono } from "hono";
import { routePath } from "hono/route";
import { HTTPException } from "hono/http-exception";
import type { Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import { ApiError, StoreUnavailableError } from "./errors.ts";
import { type ClusterEvents, LocalEvents } from "./events.ts";
import type { OverrideLookup } from "./limiter/resolve.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { MemoryOverrideStore, type OverrideStore } from "./overrides.ts";
import { MemoryRegistryBackend, NodeRegistry } from "./registry.ts";
import { createAdminRoutes } from "./routes/admin.ts";
import { createCheckRoutes, MAX_BATCH_BODY_BYTES } from "./routes/check.ts";
import { createHealthRoutes } from "./routes/health.ts";
import { requestLimits } from "./routes/request_limits.ts";
import { MAX_BODY_BYTES } from "./routes/validate.ts";
import type { Store } from "./store/types.ts";

/** Everything {@linkcode createApp} needs, passed in so tests can build any part in isolation. */
export interface AppDeps {
  config: Config;
  store: Store;
  metrics: Metrics;
  logger: Logger;
  /**
   * Override lookup of `/check` when no {@linkcode AppDeps.overrideStore} is given (tests).
   * @default {the override store}
   */
  overrides?: OverrideLookup;
  /** Per-key limits managed by `/api/limits`; also `/check`'s lookup. @default {in memory} */
  overrideStore?: OverrideStore;
  /** This node's registry, listed by `/api/nodes`. @default {an unstarted in-memory one} */
  registry?: NodeRegistry;
  /** Where management changes are announced to every node. @default {in process} */
  events?: ClusterEvents;
  /** Time source for durations, in ms. @default {performance.now} */
  clock?: Clock;
}

/** Most (method, route, status) series of the HTTP metrics kept bound for reuse. */
const MAX_BOUND_HTTP_SERIES = 256;

/** The HTTP metrics' children of one (method, route, status). */
interface HttpSeries {
  requests: { inc(): void };
  duration: { observe(value: number): void };
}

/** Methods reported as themselves in HTTP metrics; any other becomes `OTHER`. */
const STANDARD_METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "CONNECT",
  "TRACE",
]);

/** Builds the HTTP application of one node. */
export function createApp(deps: AppDeps): Hono {
  const { config, store, metrics, logger } = deps;
  const clock = deps.clock ?? (() => performance.now());
  const app = new Hono();
  const defaults = {
    limit: config.defaultLimit,
    windowMs: config.defaultWindowMs,
    algorithm: config.defaultAlgorithm,
  };
  const overrideStore = deps.overrideStore ?? new MemoryOverrideStore();
  // With an override store given, it decides: a lookup passed beside it must not shadow it.
  const overrides = deps.overrideStore ?? deps.overrides ?? overrideStore;
  const registry = deps.registry ?? new NodeRegistry({
    backend: new MemoryRegistryBackend(),
    id: config.nodeId,
    address: `${config.nodeHost}:${config.nodePort}`,
    ttlSeconds: config.nodeTtlSeconds,
    heartbeatSeconds: config.nodeHeartbeatSeconds,
  });

  // Children bound to each (method, route, status) seen, so a request builds no labels object.
  // Bounded: past the cap (only odd methods get there) series are looked up per request as before.
  const httpSeries = new Map<string, HttpSeries>();
  app.use(async function httpMetrics(c, next) {
    const started = clock();
    await next();
    const matched = routePath(c, -1);
    // The method is client-chosen: any token outside the standard set shares one label value, so
    // a client cannot create metric series at will.
    const method = STANDARD_METHODS.has(c.req.method) ? c.req.method : "OTHER";
    const route = matched === "/*" ? "unmatched" : matched;
    const status = c.res.status;
    const id = `${status} ${route} ${method}`;
    let series = httpSeries.get(id);
    if (series === undefined) {
      const labels = { method, route, status: String(status) };
      series = {
        requests: metrics.httpRequests.labels(labels),
        duration: metrics.httpDuration.labels(labels),
      };
      if (httpSeries.size < MAX_BOUND_HTTP_SERIES) httpSeries.set(id, series);
    }
    series.requests.inc();
    series.duration.observe((clock() - started) / 1000);
  });
  app.use(requestLimits({
    bodyTimeoutMs: config.bodyTimeoutMs,
    maxBodyBytes: (path) => path === "/check/batch" ? MAX_BATCH_BODY_BYTES : MAX_BODY_BYTES,
  }));

  app.route(
    "/",
    createCheckRoutes({
      store,
      metrics,
      overrides,
      defaults,
    }),
  );
  app.route("/", createHealthRoutes({ nodeId: config.nodeId, store }));
  app.route(
    "/api",
    createAdminRoutes({
      store,
      registry,
      overrides: overrideStore,
      events: deps.events ?? new LocalEvents(),
      defaults,
      auth: { token: config.adminToken, readAuth: config.adminReadAuth },
      logger,
    }),
  );
  app.get("/metrics", async (c) => {
    const text = await metrics.render();
    return c.body(text, 200, { "Content-Type": metrics.contentType });
  });

  app.notFound((c) => {
    const allow = allowedMethods(app.routes, c.req.path);
    if (allow.length > 0) {
      const error = new ApiError(
        405,
        "method_not_allowed",
        `Method ${c.req.method} is not allowed on ${c.req.path}; allowed: ${allow.join(", ")}`,
        { headers: { Allow: allow.join(", ") } },
      );
      return c.json(error.toBody(), 405, error.headers);
    }
    const error = new ApiError(404, "not_found", `No route for ${c.req.method} ${c.req.path}`);
    return c.json(error.toBody(), 404);
  });

  app.onError((error, c) => {
    if (error instanceof ApiError) {
      return c.json(error.toBody(), error.status as 400, error.headers);
    }
    if (error instanceof StoreUnavailableError) {
      // A store that classified the failure (the ResilientStore) has counted it already.
      if (error.kind === undefined) metrics.storeErrors.inc({ kind: "unavailable" });
      const body = new ApiError(503, "store_unavailable", "The rate-limit store is unavailable");
      return c.json(body.toBody(), 503, { "Retry-After": "1" });
    }
    if (error instanceof HTTPException) {
      const body = new ApiError(error.status, "http_error", error.message || "Request rejected");
      return c.json(body.toBody(), error.status);
    }
    logger.error("unhandled_error", {
      method: c.req.method,
      path: c.req.path,
      error: error instanceof Error ? error.message : String(error),
      stack: error instanceof Error ? error.stack : undefined,
    });
    const body = new ApiError(500, "internal_error", "Internal server error");
    return c.json(body.toBody(), 500);
  });

  return app;
}

const patternCache = new Map<string, RegExp>();

function patternToRegExp(path: string): RegExp {
  let re = patternCache.get(path);
  if (re === undefined) {
    const source = path
      .split("/")
      .map((segment) =>
        segment.startsWith(":")
          ? "[^/]+"
          : segment === "*"
          ? ".*"
          : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
      )
      .join("/");
    re = new RegExp(`^${source}/?$`);
    patternCache.set(path, re);
  }
  return re;
}

/** Methods that have a route matching `path`, for a 405's `Allow` header. */
export function allowedMethods(routes: { method: string; path: string }[], path: string): string[] {
  const methods = new Set<string>();
  for (const route of routes) {
    if (route.method === "ALL" || route.path === "/*") continue;
    if (patternToRegExp(route.path).test(path)) methods.add(route.method);
  }
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}
