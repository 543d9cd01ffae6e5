/**
 * A typed client of the rate-limiter service, for Deno and Node 20+: it imports nothing and uses
 * only `fetch`.
 *
 * ```ts
 * import { createClient } from "./mod.ts";
 *
 * const limiter = createClient({ url: "http://127.0.0.1:8000", timeoutMs: 500 });
 * const answer = await limiter.check({ key: "user:42", limit: 10, window_ms: 60_000 });
 * if (!answer.allowed) console.log("slow down");
 * ```
 *
 * @module
 */
export * from "./client.ts";
export * from "./errors.ts";
export * from "./headers.ts";
export type * from "./types.ts";
