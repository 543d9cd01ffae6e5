/** Builds an app over the embedded store for route tests (`app.request()`, no network). */
import { createApp } from "../../src/app.ts";
import { type Config, parseConfig } from "../../src/config.ts";
import { noOverrides, type OverrideLookup } from "../../src/limiter/resolve.ts";
import { silentLogger } from "../../src/log.ts";
import { createMetrics, type Metrics } from "../../src/metrics.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/types.ts";

/** Options for {@linkcode makeTestApp}. */
export interface TestAppOptions {
  env?: Record<string, string>;
  store?: Store;
  overrides?: OverrideLookup;
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
    overrides: options.overrides ?? noOverrides,
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
