/**
 * A steady load of `/check` requests from several concurrent clients, for fault tests. Every
 * request is bounded by its own timeout, so a hang shows up as a recorded error, never as a test
 * that does not end.
 *
 * @module
 */

/** What happened to one request of a {@linkcode runLoad}. */
export interface LoadResult {
  /** Index of the client that sent it. */
  client: number;
  url: string;
  /** `performance.now()` when it was sent and when it was answered (or failed). */
  startedAt: number;
  endedAt: number;
  /** HTTP status, or 0 when the request failed without one. */
  status: number;
  /** `X-RateLimit-Degraded`, when present. */
  degraded: string | null;
  /** The parsed JSON body, when there was one. */
  body: Record<string, unknown> | undefined;
  /** Why it failed without a status (connection refused, reset, timeout). */
  error: string | undefined;
}

/** Options for {@linkcode runLoad}. */
export interface LoadOptions {
  /** Node base URLs; client `i` sends its `n`-th request to `urls[(i + n) % urls.length]`. */
  urls: string[];
  /** Concurrent clients, each sending one request at a time. */
  clients: number;
  /** Body of the `n`-th request of client `i`. */
  body: (client: number, n: number) => unknown;
  /** The load stops (after in-flight requests end) once this signal aborts. */
  signal: AbortSignal;
  /** Per-request timeout in ms, after which it is recorded as an error. @default {10000} */
  requestTimeoutMs?: number;
  /** Pause between a client's requests, in ms. @default {5} */
  pauseMs?: number;
  /** Called with each result as it arrives. @default {none} */
  onResult?: (result: LoadResult) => void;
}

/** Runs the load until `signal` aborts and resolves with every request's result. */
export async function runLoad(options: LoadOptions): Promise<LoadResult[]> {
  const results: LoadResult[] = [];
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const pauseMs = options.pauseMs ?? 5;
  const client = async (i: number) => {
    for (let n = 0; !options.signal.aborted; n++) {
      const url = options.urls[(i + n) % options.urls.length]!;
      const startedAt = performance.now();
      let result: LoadResult;
      try {
        const res = await fetch(`${url}/check`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(options.body(i, n)),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await res.text();
        let body: Record<string, unknown> | undefined;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        result = {
          client: i,
          url,
          startedAt,
          endedAt: performance.now(),
          status: res.status,
          degraded: res.headers.get("x-ratelimit-degraded"),
          body,
          error: undefined,
        };
      } catch (error) {
        result = {
          client: i,
          url,
          startedAt,
          endedAt: performance.now(),
          status: 0,
          degraded: null,
          body: undefined,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        };
      }
      results.push(result);
      options.onResult?.(result);
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)));
  return results;
}

/** Counts results by status (0 = no status). */
export function countStatuses(results: LoadResult[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

/** The slowest request's duration in ms. */
export function slowest(results: LoadResult[]): number {
  return Math.max(0, ...results.map((r) => r.endedAt - r.startedAt));
}
