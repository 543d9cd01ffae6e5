/**
 * The HTTP metrics of every request: `http_requests_total` and `http_request_duration_seconds` by
 * method, route pattern and status.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { MonotonicClock } from "../../clock.ts";
import type { Metrics } from "../../metrics/metrics.ts";

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

/**
 * Counts answered requests by (method, route, status), shared by the {@linkcode httpMetrics}
 * middleware and the `POST /check` fast path. Children are bound to each series seen, so a request
 * builds no labels object; bounded: past the cap (only odd methods get there) series are looked up
 * per request.
 */
export class HttpRequestMetrics {
  readonly #metrics: Pick<Metrics, "httpRequests" | "httpDuration">;
  readonly #series = new Map<string, HttpSeries>();

  constructor(metrics: Pick<Metrics, "httpRequests" | "httpDuration">) {
    this.#metrics = metrics;
  }

  /**
   * Counts one answered request and its duration in seconds. `method` is the label value: the
   * middleware has already folded client-chosen methods outside the standard set into `OTHER`.
   */
  observe(method: string, route: string, status: number, seconds: number): void {
    const id = `${status} ${route} ${method}`;
    let series = this.#series.get(id);
    if (series === undefined) {
      const labels = { method, route, status: String(status) };
      series = {
        requests: this.#metrics.httpRequests.labels(labels),
        duration: this.#metrics.httpDuration.labels(labels),
      };
      if (this.#series.size < MAX_BOUND_HTTP_SERIES) this.#series.set(id, series);
    }
    series.requests.inc();
    series.duration.observe(seconds);
  }
}

/** Options for {@linkcode httpMetrics}. */
export interface HttpMetricsOptions {
  /** Where requests are counted. */
  requests: HttpRequestMetrics;
  /** Time source for durations, in ms. @default {performance.now} */
  clock?: MonotonicClock;
}

/**
 * Counts every request Hono answers under its route pattern (`unmatched` when none matched) once
 * the answer is known, with its duration.
 */
export function httpMetrics(options: HttpMetricsOptions): MiddlewareHandler {
  const { requests } = options;
  const clock = options.clock ?? (() => performance.now());
  return async function httpMetrics(c, next) {
    const started = clock();
    await next();
    const matched = routePath(c, -1);
    // The method is client-chosen: any token outside the standard set shares one label value, so
    // a client cannot create metric series at will.
    const method = STANDARD_METHODS.has(c.req.method) ? c.req.method : "OTHER";
    const route = matched === "/*" ? "unmatched" : matched;
    requests.observe(method, route, c.res.status, (clock() - started) / 1000);
  };
}
