import { type Context, Hono } from "hono";
import { z } from "zod";
import { ApiError, StoreUnavailableError } from "../../errors.ts";
import type { ClusterEvents } from "../../cluster/events.ts";
import { resetCounter } from "../../cluster/reset_counter.ts";
import type { LimitDefaults, Override, OverrideLookup } from "../../limiter/resolve.ts";
import { ALGORITHMS, type Decision, type LimitRequest } from "../../limiter/types.ts";
import { type Logger, silentLogger } from "../../log.ts";
import type { OverrideEntry, OverrideStore } from "../../cluster/override_store.ts";
import type { NodeRegistry } from "../../cluster/node_registry.ts";
import type { NodeInfo } from "../../cluster/registry.ts";
import type { NodeFigures, NodeStats } from "../../cluster/node_stats.ts";
import type { CounterInfo, Store } from "../../store/types.ts";
import { adminAuth, type AdminAuthOptions } from "../middleware/admin_auth.ts";
import { keyProblem, MAX_LIMIT, MAX_WINDOW_MS } from "../../limiter/bounds.ts";
import { checkParams, optionalField } from "../check_input.ts";
import { readJsonBody } from "../body.ts";
import { pathKey } from "../path_key.ts";
import { readQuery } from "../query.ts";
import { parseWith } from "../validate.ts";
import type { CounterInfo as CounterView } from "../../client/types.ts";

/** Page size of `/api/counters` and `/api/blocks` when `?limit=` is not given. */
export const DEFAULT_PAGE_SIZE = 100;
/** Largest `?limit=` of `/api/counters` and `/api/blocks`. */
export const MAX_PAGE_SIZE = 1000;
/** Most store pages one `/api/blocks` page looks through to fill itself. */
export const BLOCKS_SCAN_PAGES = 10;

/** zod schema of the body of `PUT /api/limits/{key}`. */
export const overrideBodySchema = z.strictObject({
  limit: z.int().min(1).max(MAX_LIMIT),
  window_ms: optionalField(z.int().min(1).max(MAX_WINDOW_MS)),
  algorithm: optionalField(z.enum(ALGORITHMS)),
  burst: optionalField(z.int().min(1).max(MAX_LIMIT)),
  refill_rate: optionalField(z.int().min(1).max(MAX_LIMIT)),
}).superRefine(checkParams);

/** Options for {@linkcode createAdminRoutes}. */
export interface AdminRoutesOptions {
  store: Store;
  registry: NodeRegistry;
  /** Every node's recent figures, for `/api/cluster`. */
  nodeStats: NodeStats;
  overrides: OverrideStore;
  events: ClusterEvents;
  /** Limit, window and algorithm when neither an override nor a request names them. */
  defaults: LimitDefaults;
  /** Bearer-token rules of the API. @default {open} */
  auth?: AdminAuthOptions;
  /** Logger for events that could not be published. @default {silentLogger} */
  logger?: Logger;
}

// One counter as `/api/counters` lists it: one definition, shared with the typed client.
export type { CounterView };

/** Published figures older than this are not shown as an Up node's rates (a stalled publisher). */
export const STALE_FIGURES_MS = 5000;

/** One node as `/api/cluster` lists it. */
export interface ClusterNodeView {
  id: string;
  address: string;
  state: "Up" | "Down";
  version: string;
  last_heartbeat: string;
  store: NodeFigures["store"];
  circuit_state: NodeFigures["circuit_state"];
  allowed_per_second: number;
  blocked_per_second: number;
  p99_check_ms: number | null;
}

/**
 * The answer of `/api/cluster`: the registry's nodes joined with their figures, and the rates
 * summed over the Up nodes. A Down node shows its last figures. An Up node without figures (it
 * has just started) or with figures older than {@linkcode STALE_FIGURES_MS} shows rates 0, p99
 * `null`, the registry's store kind and status `up`/what it last published.
 */
export function clusterView(
  nodes: readonly NodeInfo[],
  figuresOf: (node: NodeInfo) => NodeFigures | undefined,
  storeKind: "memory" | "redis",
  now: number = Date.now(),
): {
  generated_at: string;
  nodes: ClusterNodeView[];
  totals: { allowed_per_second: number; blocked_per_second: number };
} {
  const views = nodes.map((n): ClusterNodeView => {
    const figures = figuresOf(n);
    const fresh = figures !== undefined &&
      (n.state === "Down" || now - figures.at <= STALE_FIGURES_MS);
    return {
      id: n.id,
      address: n.address,
      state: n.state,
      version: n.version,
      last_heartbeat: iso(n.lastHeartbeatAt),
      store: figures?.store ?? { kind: storeKind, status: n.state === "Up" ? "up" : "down" },
      circuit_state: figures?.circuit_state ?? null,
      allowed_per_second: fresh ? figures.allowed_per_second : 0,
      blocked_per_second: fresh ? figures.blocked_per_second : 0,
      p99_check_ms: fresh ? figures.p99_check_ms : null,
    };
  });
  let allowed = 0;
  let blocked = 0;
  for (const v of views) {
    if (v.state !== "Up") continue;
    allowed += v.allowed_per_second;
    blocked += v.blocked_per_second;
  }
  return {
    generated_at: iso(now),
    nodes: views,
    totals: {
      allowed_per_second: Math.round(allowed * 100) / 100,
      blocked_per_second: Math.round(blocked * 100) / 100,
    },
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function queryProblem(name: string, message: string): ApiError {
  return new ApiError(400, "invalid_request", `Invalid query parameter "${name}": ${message}`, {
    details: [{ path: name, message }],
  });
}

function readPrefix(query: Record<string, string>): string | undefined {
  const prefix = query.prefix;
  if (prefix === undefined || prefix === "") return undefined;
  const problem = keyProblem(prefix);
  if (problem !== undefined) throw queryProblem("prefix", problem);
  return prefix;
}

interface PageQuery {
  cursor: string | undefined;
  limit: number;
  prefix: string | undefined;
}

function readPageQuery(c: Context): PageQuery {
  const query = readQuery(c.req.url, ["cursor", "limit", "prefix"]);
  let limit = DEFAULT_PAGE_SIZE;
  if (query.limit !== undefined) {
    limit = /^\d{1,7}$/.test(query.limit) ? Number(query.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_PAGE_SIZE)) {
      throw queryProblem(
        "limit",
        `expected an integer from 1 to ${MAX_PAGE_SIZE}, received ${JSON.stringify(query.limit)}`,
      );
    }
  }
  // Each store checks its own cursor format and range: `listPage` turns a refusal into a 400.
  const cursor = query.cursor === undefined || query.cursor === "" ? undefined : query.cursor;
  return { cursor, limit, prefix: readPrefix(query) };
}

function invalidCursor(cursor: string): ApiError {
  return new ApiError(
    400,
    "invalid_cursor",
    `Invalid cursor ${JSON.stringify(cursor)}: pass the next_cursor of the previous page`,
  );
}

/**
 * `store.listCounters`, with a cursor the store rejects (a `RangeError`, thrown before any I/O, so
 * no store error is counted) turned into a 400 `invalid_cursor`.
 */
async function listPage(store: Store, page: PageQuery) {
  try {
    return await store.listCounters(page);
  } catch (error) {
    if (error instanceof RangeError) throw invalidCursor(page.cursor ?? "");
    throw error;
  }
}

/**
 * Each counter's state under its effective limit: the key's override when one applies to the
 * counter's algorithm, else the parameters it was last consumed under (what the store recorded).
 * Counters whose override differs from the recorded parameters are re-read with a cost-0 check
 * under the override, in one batch.
 */
async function effectiveCounters(
  store: Store,
  overrides: OverrideLookup,
  counters: CounterInfo[],
): Promise<CounterView[]> {
  const views: CounterView[] = [];
  const redo: { index: number; request: LimitRequest }[] = [];
  for (const counter of counters) {
    const override = overrides.get(counter.key);
    const applies = override !== undefined &&
      (override.algorithm === undefined || override.algorithm === counter.algorithm);
    let limit = counter.limit;
    let windowMs = counter.windowMs;
    if (applies && (override.limit !== limit || override.windowMs !== windowMs)) {
      limit = override.limit;
      windowMs = override.windowMs;
      redo.push({
        index: views.length,
        request: { key: counter.key, algorithm: counter.algorithm, limit, windowMs, cost: 0 },
      });
    }
    views.push(toView(counter.key, counter.algorithm, limit, windowMs, counter.decision, applies));
  }
  if (redo.length > 0) {
    const outcomes = await store.checkMany(redo.map((r) => [r.request]));
    redo.forEach(({ index, request }, i) => {
      const outcome = outcomes[i]!;
      // A degraded outcome was made up by a failure mode, not read from the store.
      if (outcome.degraded !== undefined) {
        throw new StoreUnavailableError("The rate-limit store is unavailable");
      }
      views[index] = toView(
        request.key,
        request.algorithm,
        request.limit,
        request.windowMs,
        outcome.decisions[0]!,
        true,
      );
    });
  }
  return views;
}

function toView(
  key: string,
  algorithm: string,
  limit: number,
  windowMs: number,
  decision: Decision,
  override: boolean,
): CounterView {
  return {
    key,
    algorithm,
    count: decision.count,
    limit,
    window_ms: windowMs,
    remaining: decision.remaining,
    blocked: !decision.allowed,
    retry_after_seconds: decision.allowed
      ? 0
      : Math.max(1, Math.ceil(decision.retryAfterMs / 1000)),
    reset_after_ms: decision.resetAfterMs,
    override,
  };
}

function overrideView(entry: OverrideEntry) {
  return {
    key: entry.key,
    limit: entry.limit,
    window_ms: entry.windowMs,
    algorithm: entry.algorithm ?? null,
    burst: entry.burst ?? null,
    refill_rate: entry.refillRate ?? null,
    updated_at: iso(entry.updatedAt),
  };
}

/**
 * The management API, mounted under `/api`: nodes, the cluster summary, per-key limits (overrides), counters, blocked
 * keys and counter resets. State-changing calls need the admin token when one is configured.
 */
export function createAdminRoutes(options: AdminRoutesOptions): Hono {
  const { store, registry, nodeStats, overrides, events, defaults } = options;
  const logger = options.logger ?? silentLogger;
  const app = new Hono();

  app.use("*", adminAuth(options.auth));

  // GET routes ignore unknown query parameters; the routes that change state reject them.
  app.get("/nodes", async (c) => {
    const nodes = await registry.list();
    return c.json({
      nodes: nodes.map((n) => ({
        id: n.id,
        address: n.address,
        state: n.state,
        registered_at: iso(n.registeredAt),
        last_heartbeat_at: iso(n.lastHeartbeatAt),
        last_heartbeat_age_ms: n.lastHeartbeatAgeMs,
        version: n.version,
        self: n.id === registry.id && n.instance === registry.instance,
      })),
    });
  });

  app.get("/cluster", async (c) => {
    const [nodes, published, own] = await Promise.all([
      registry.list(),
      nodeStats.read(),
      nodeStats.own(),
    ]);
    const self = (n: NodeInfo) => n.id === registry.id && n.instance === registry.instance;
    return c.json(clusterView(nodes, (n) => self(n) ? own : published.get(n.id), registry.kind));
  });

  app.get("/limits", async (c) => {
    const prefix = readPrefix(readQuery(c.req.url, ["prefix"]));
    const entries = await overrides.list(prefix);
    return c.json({
      default_limit: defaults.limit,
      default_window_ms: defaults.windowMs,
      default_algorithm: defaults.algorithm,
      overrides: entries.map(overrideView),
    });
  });

  app.get("/limits/:key", async (c) => {
    const key = pathKey(c);
    const entry = await overrides.entry(key);
    if (entry === undefined) {
      throw new ApiError(404, "not_found", `No override for key ${JSON.stringify(key)}`);
    }
    return c.json(overrideView(entry));
  });

  app.put("/limits/:key", async (c) => {
    const key = pathKey(c);
    readQuery(c.req.url, [], { unknown: "reject" });
    const body = parseWith(overrideBodySchema, await readJsonBody(c));
    const override: Override = { limit: body.limit, windowMs: body.window_ms ?? defaults.windowMs };
    if (body.algorithm !== undefined) override.algorithm = body.algorithm;
    if (body.burst !== undefined) override.burst = body.burst;
    if (body.refill_rate !== undefined) override.refillRate = body.refill_rate;
    // At the cap, `set` throws an `OverridesFullError`: the error mapping answers 409.
    const result = await overrides.set(key, override);
    return c.json({
      ...overrideView(result.entry),
      updated: true,
      created: result.created,
    });
  });

  app.delete("/limits/:key", async (c) => {
    const key = pathKey(c);
    readQuery(c.req.url, [], { unknown: "reject" });
    if (!await overrides.delete(key)) {
      throw new ApiError(404, "not_found", `No override for key ${JSON.stringify(key)}`);
    }
    return c.json({ key, deleted: true });
  });

  app.get("/counters", async (c) => {
    const page = readPageQuery(c);
    const { counters, nextCursor } = await listPage(store, page);
    return c.json({
      counters: await effectiveCounters(store, overrides, counters),
      next_cursor: nextCursor ?? null,
    });
  });

  app.get("/blocks", async (c) => {
    const page = readPageQuery(c);
    const blocked = [];
    let cursor = page.cursor;
    // Blocked keys are usually few: look through a bounded number of store pages to fill this one,
    // asking each time only for as many counters as there is room left, so it never overflows.
    for (let i = 0; i < BLOCKS_SCAN_PAGES && blocked.length < page.limit; i++) {
      const result = await listPage(store, { ...page, cursor, limit: page.limit - blocked.length });
      for (const view of await effectiveCounters(store, overrides, result.counters)) {
        if (!view.blocked) continue;
        blocked.push({
          key: view.key,
          algorithm: view.algorithm,
          current_count: view.count,
          limit: view.limit,
          window_ms: view.window_ms,
          retry_after_seconds: view.retry_after_seconds,
          override: view.override,
        });
      }
      cursor = result.nextCursor;
      if (cursor === undefined) break;
    }
    return c.json({ blocked, next_cursor: cursor ?? null });
  });

  app.post("/counters/:key/reset", async (c) => {
    const key = pathKey(c);
    readQuery(c.req.url, [], { unknown: "reject" });
    const reset = await resetCounter(key, { store, events, logger });
    return c.json({ key, reset });
  });

  return app;
}
