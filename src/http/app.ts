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
import { MemoryNodeStats } from "../cluster/memory_node_stats.ts";
import { LocalFigures, type NodeStats } from "../cluster/node_stats.ts";
import { createAdminRoutes } from "./routes/admin.ts";
import { createDashboardRoutes } from "./routes/dashboard.ts";
import { createDocsRoutes } from "./routes/docs.ts";
import { createCheckHandler, createCheckRoutes, MAX_BATCH_BODY_BYTES } from "./routes/check.ts";
import { createHealthRoutes } from "./routes/health.ts";
import { createEnvoyJsonRoutes } from "./routes/envoy_json.ts";
import { createRateLimitService, type ShouldRateLimit } from "../envoy/service.ts";
import { createRulesRoutes } from "./routes/rules.ts";
import { createOpenApiRoutes } from "./routes/openapi.ts";
import { httpMetrics, HttpRequestMetrics } from "./middleware/http_metrics.ts";
import { requestLimits } from "./middleware/request_limits.ts";
import { MAX_BODY_BYTES } from "./body.ts";
import { createCheckFastPath } from "./check_fast_path.ts";
import { createErrorResponse } from "./errors.ts";
import { rawPath } from "./path_key.ts";
import { keyProblem } from "../limiter/bounds.ts";
import type { Store } from "../store/types.ts";
import type { Rules } from "../rules/rules_holder.ts";

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
  /**
   * Every node's recent figures, for `/api/cluster`.
   * @default {this node's alone, from `metrics` and `store`, sampled only by its own loop if started}
   */
  nodeStats?: NodeStats;
  /** Where management changes are announced to every node. @default {in process} */
  events?: ClusterEvents;
  /** Time source for durations, in ms. @default {performance.now} */
  clock?: MonotonicClock;
  /**
   * Envoy's `ShouldRateLimit`, answered over JSON by `POST /json` (the node shares it with its gRPC
   * server). @default {one on `store`, the overrides and `rules`}
   */
  rls?: ShouldRateLimit;
  /** The operator's rules, shown by `GET /api/rules`. @default {none loaded} */
  rules?: Rules;
}

/**
 * Builds the HTTP application of one node: the HTTP metrics, then the request limits, then the
 * routes (`/check*`, `/json`, `/health`, `/ready`, `/api/*`, `/metrics`, `/docs`, `/dashboard`); 404 and 405 (with
 * `Allow`) for what no route takes; every error answered by the one error mapping; and the exact
 * `POST /check` answered by its fast path in front of Hono.
 */
export function createApp(deps: AppDeps): Hono {
  const { config, store, metrics, logger } = deps;
  const clock = deps.clock ?? (() => performance.now());
  // `strict: false`: every route answers with or without one trailing slash (`/health/`), and
  // `c.req.path` is the path without it, so the 404/405 below agree with the router.
  const app = new Hono({ strict: false });
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
  const nodeStats = deps.nodeStats ?? new MemoryNodeStats({
    id: config.nodeId,
    figures: new LocalFigures({ metrics, store }),
  });

  const httpRequests = new HttpRequestMetrics(metrics);
  app.use(httpMetrics({ requests: httpRequests, clock }));
  app.use(requestLimits({
    bodyTimeoutMs: config.bodyTimeoutMs,
    maxBodyBytes: (path) =>
      path === "/check/batch" || path === "/check/batch/" ? MAX_BATCH_BODY_BYTES : MAX_BODY_BYTES,
  }));

  const checkOptions = { store, metrics, overrides, defaults, policy: config.limitsPolicy };
  const handleCheck = createCheckHandler(checkOptions);
  app.route("/", createCheckRoutes(checkOptions));
  app.route("/", createHealthRoutes({ nodeId: config.nodeId, store }));
  app.route(
    "/",
    createEnvoyJsonRoutes(
      deps.rls ?? createRateLimitService({
        store,
        rules: () => deps.rules?.current(),
        overrides,
        metrics,
        rateLimitHeaders: config.rlsRateLimitHeaders,
      }),
    ),
  );
  app.route(
    "/api",
    createAdminRoutes({
      store,
      registry,
      nodeStats,
      overrides: overrideStore,
      events,
      defaults,
      auth: { token: config.adminToken, readAuth: config.adminReadAuth },
      logger,
    }),
  );
  app.route(
    "/api",
    createRulesRoutes({
      rules: deps.rules,
      auth: { token: config.adminToken, readAuth: config.adminReadAuth },
    }),
  );
  app.route(
    "/",
    createOpenApiRoutes({ policy: config.limitsPolicy, readAuth: config.adminReadAuth }),
  );
  app.get("/metrics", async (c) => {
    const text = await metrics.render();
    return c.body(text, 200, { "Content-Type": metrics.contentType });
  });
  app.route("/", createDocsRoutes());
  app.route("/", createDashboardRoutes());

  const errorResponse = createErrorResponse({ metrics, logger });
  app.onError((error, c) => errorResponse(error, c.req.method, c.req.path));
  app.notFound((c) => {
    const allow = allowedMethods(app.routes, c.req.path);
    const error = hasEmptyKey(app.routes, c.req.method, rawPath(c.req.url))
      ? new ApiError(400, "invalid_request", `Invalid key in the path: key ${keyProblem("")}`, {
        details: [{ path: "key", message: `key ${keyProblem("")}` }],
      })
      : allow.length > 0
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

/**
 * A regular expression matching the paths of a route `pattern`, without a trailing slash (the
 * app's paths have none: see `strict: false`). With `emptyKey`, its `:key` parameter matches only
 * the empty string.
 */
function patternToRegExp(pattern: string, emptyKey = false): RegExp {
  const id = `${emptyKey} ${pattern}`;
  let re = patternCache.get(id);
  if (re === undefined) {
    const source = pattern
      .split("/")
      .map((segment) =>
        emptyKey && segment.startsWith(":key")
          ? ""
          : segment.startsWith(":")
          ? segment.endsWith("{.+}") ? ".+" : "[^/]+"
          : segment === "*"
          ? ".*"
          : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
      )
      .join("/");
    re = new RegExp(`^${source}$`);
    patternCache.set(id, re);
  }
  return re;
}

/**
 * Whether `path` (raw, as sent) is a route of `method` with a `:key` parameter but an empty key
 * (`PUT /api/limits/`, `GET /check/`, `POST /api/counters//reset`), with or without one more
 * trailing slash: a 400 like any invalid key, rather than a 404 or 405 that would hide what is
 * wrong. HEAD counts as GET, as the router does.
 */
export function hasEmptyKey(
  routes: { method: string; path: string }[],
  method: string,
  path: string,
): boolean {
  const wanted = method === "HEAD" ? "GET" : method;
  const trimmed = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  return routes.some((route) => {
    if (route.method !== wanted || !route.path.includes("/:key")) return false;
    const re = patternToRegExp(route.path, true);
    return re.test(path) || re.test(trimmed);
  });
}

/**
 * Methods that have a route matching `path` (as the router sees it, without a trailing slash), for
 * a 405's `Allow` header.
 */
export function allowedMethods(routes: { method: string; path: string }[], path: string): string[] {
  const methods = new Set<string>();
  for (const route of routes) {
    if (route.method === "ALL" || route.path === "/*") continue;
    if (patternToRegExp(route.path).test(path)) methods.add(route.method);
  }
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}
