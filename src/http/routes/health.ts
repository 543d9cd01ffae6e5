import { Hono } from "hono";
import type { Store } from "../../store/types.ts";
import { VERSION } from "../../version.ts";
import { DEADLINE_PASSED, withDeadline } from "../../deadline.ts";

/** Options for {@linkcode createHealthRoutes}. */
export interface HealthRoutesOptions {
  nodeId: string;
  store: Store;
  /** Longest `/ready` waits for the store, in milliseconds. @default {1000} */
  readyTimeoutMs?: number;
}

/**
 * `GET /health` (liveness: 200 while serving; `"status": "healthy"`, the value the original
 * service's clients compare against) and `GET /ready` (200 only while the store answers). */
export function createHealthRoutes(options: HealthRoutesOptions): Hono {
  const { nodeId, store } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? 1000;
  const app = new Hono();

  app.get("/health", (c) =>
    c.json({
      status: "healthy",
      node_id: nodeId,
      version: VERSION,
      store: { kind: store.kind, status: store.status() },
    }));

  app.get("/ready", async (c) => {
    const answered = await withDeadline(store.ping(), readyTimeoutMs).catch(() => DEADLINE_PASSED);
    if (answered === DEADLINE_PASSED) {
      return c.json(
        { ready: false, node_id: nodeId, store: { kind: store.kind, status: "down" } },
        503,
      );
    }
    return c.json({ ready: true, node_id: nodeId, store: { kind: store.kind, status: "up" } });
  });

  return app;
}
