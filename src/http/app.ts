import { Hono } from "hono";
import type { MonotonicClock } from "../clock.ts";
import type { Config } from "../config.ts";
import { ApiError } from "../errors.ts";
import type { ClusterEvents } from "../cluster/events.ts";
import { MemoryEvents } from "../cluster/memory_events.ts";
import type { OverrideLookup } from "../limiter/resolve.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { MemoryOverrideStore } from "../cluster/memory_override_store.ts";
import type { OverrideStore } from "../cluster/override_store.ts";
import { MemoryRegistry } from "../cluster/memory_registry.ts";
import { NodeRegistry } from "../cluster/node_registry.ts";
import { createAdminRoutes } from "./routes/admin.ts";
import { createCheckHandler, createCheckRoutes, MAX_BATCH_BODY_BYTES } from "./routes/check.ts";
import { createHealthRoutes } from "./routes/health.ts";
import { httpMetrics, HttpRequestMetrics } from "./middleware/http_metrics.ts";
import { requestLimits } from "./middleware/request_limits.ts";
import { MAX_BODY_BYTES } from "./body.ts";
import { createCheckFastPath } from "./check_fast_path.ts";
import { createErrorResponse } from "./errors.ts";
import type { Store } from "../store/types.ts";

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
  clock?: MonotonicClock;
}

/**
 * Builds the HTTP application of one node: the HTTP metrics, then the request limits, then the
 * routes (`/check*`, `/health`, `/ready`, `/api/*`, `/metrics`); 404 and 405 (with `Allow`) for
 * what no route takes; every error answered by the one error mapping; and the exact `POST /check`
 * answered by its fast path in front of Hono.
 */
export function createApp(deps: AppDeps): Hono {
  const { config, store, metrics, logger } = deps;
  const clock = deps.clock ?? (() => performance.now());
  const app = new Hono();
  const defaults = {
    limit: config.defaultLimit,
    windowMs: config.defaultWindowMs,
    algorithm: config.defaultAlgorithm,
  };
  const events = deps.events ?? new MemoryEvents();
  const overrideStore = deps.overrideStore ?? new MemoryOverrideStore({ events, logger });
  // With an override store given, it decides: a lookup passed beside it must not shadow it.
  const overrides = deps.overrideStore ?? deps.overrides ?? overrideStore;
  const registry = deps.registry ?? new NodeRegistry({
    backend: new MemoryRegistry(),
    id: config.nodeId,
    address: `${config.nodeHost}:${config.nodePort}`,
    ttlSeconds: config.nodeTtlSeconds,
    heartbeatSeconds: config.nodeHeartbeatSeconds,
  });

  const httpRequests = new HttpRequestMetrics(metrics);
  app.use(httpMetrics({ requests: httpRequests, clock }));
  app.use(requestLimits({
    bodyTimeoutMs: config.bodyTimeoutMs,
    maxBodyBytes: (path) => path === "/check/batch" ? MAX_BATCH_BODY_BYTES : MAX_BODY_BYTES,
  }));

  const checkOptions = { store, metrics, overrides, defaults, policy: config.limitsPolicy };
  const handleCheck = createCheckHandler(checkOptions);
  app.route("/", createCheckRoutes(checkOptions));
  app.route("/", createHealthRoutes({ nodeId: config.nodeId, store }));
  app.route(
    "/api",
    createAdminRoutes({
      store,
      registry,
      overrides: overrideStore,
      events,
      defaults,
      auth: { token: config.adminToken, readAuth: config.adminReadAuth },
      logger,
    }),
  );
  app.get("/metrics", async (c) => {
    const text = await metrics.render();
    return c.body(text, 200, { "Content-Type": metrics.contentType });
  });

  const errorResponse = createErrorResponse({ metrics, logger });
  app.onError((error, c) => errorResponse(error, c.req.method, c.req.path));
  app.notFound((c) => {
    const allow = allowedMethods(app.routes, c.req.path);
    const error = allow.length > 0
      ? new ApiError(
        405,
        "method_not_allowed",
        `Method ${c.req.method} is not allowed on ${c.req.path}; allowed: ${allow.join(", ")}`,
        { headers: { Allow: allow.join(", ") } },
      )
      : new ApiError(404, "not_found", `No route for ${c.req.method} ${c.req.path}`);
    return errorResponse(error, c.req.method, c.req.path);
  });

  // The exact `POST /check` skips Hono (see `check_fast_path.ts`). It wraps `app.fetch` so that
  // every caller takes it: the server, and `app.request` in the route tests.
  app.fetch = createCheckFastPath({
    handleCheck,
    bodyTimeoutMs: config.bodyTimeoutMs,
    errorResponse,
    observe: (status, seconds) => httpRequests.observe("POST", "/check", status, seconds),
    clock,
  }, app.fetch);

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
