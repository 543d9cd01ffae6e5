/** Builds an app over the embedded store for route tests (`app.request()`, no network). */
import { createApp } from "../../src/http/app.ts";
import { type Config, parseConfig } from "../../src/config.ts";
import type { ClusterEvents } from "../../src/cluster/events.ts";
import type { OverrideLookup } from "../../src/limiter/resolve.ts";
import { silentLogger } from "../../src/log.ts";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.ts";
import type { OverrideStore } from "../../src/cluster/override_store.ts";
import type { NodeRegistry } from "../../src/cluster/node_registry.ts";
import type { NodeStats } from "../../src/cluster/node_stats.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/types.ts";

/** Options for {@linkcode makeTestApp}. */
export interface TestAppOptions {
  env?: Record<string, string>;
  store?: Store;
  overrides?: OverrideLookup;
  overrideStore?: OverrideStore;
  registry?: NodeRegistry;
  nodeStats?: NodeStats;
  events?: ClusterEvents;
  /** Metrics to use, e.g. the ones a decorated store also writes to. @default {fresh ones} */
  metrics?: Metrics;
}

/** An app with its parts, for assertions on the store and metrics. */
export function makeTestApp(options: TestAppOptions = {}) {
  const config: Config = parseConfig(options.env ?? {}, { hostname: "test" });
  const store = options.store ?? new MemoryStore({ sweepIntervalMs: 0 });
  const metrics: Metrics = options.metrics ??
    createMetrics({ nodeId: config.nodeId, defaultMetrics: false });
  const app = createApp({
    config,
    store,
    metrics,
    logger: silentLogger,
    ...(options.overrides === undefined ? {} : { overrides: options.overrides }),
    ...(options.overrideStore === undefined ? {} : { overrideStore: options.overrideStore }),
    ...(options.registry === undefined ? {} : { registry: options.registry }),
    ...(options.nodeStats === undefined ? {} : { nodeStats: options.nodeStats }),
    ...(options.events === undefined ? {} : { events: options.events }),
  });
  return { app, store, metrics, config };
}

/** A JSON POST through `app.request()`. */
export function jsonRequest(body: unknown, init: RequestInit = {}): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  };
}
