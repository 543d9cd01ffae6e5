/**
 * The permissions a service node runs with, in one place: `deno task start`/`compile`, the
 * Dockerfile, the local cluster, the benchmarks and the tests all use exactly these (a test
 * compares them), so none can drift into `-A`.
 *
 * @module
 */
import { CONFIG_ENV_VARS } from "../src/config.ts";

/**
 * Variables read by libraries, not by the service: node-redis reads these two when Redis sends a
 * maintenance notice. Without them the read would throw `NotCapable` inside the client.
 */
export const LIBRARY_ENV_VARS: readonly string[] = [
  "REDIS_DEBUG_MAINTENANCE",
  "REDIS_EMIT_DIAGNOSTICS",
];

/** Every variable a node may read: the config's `RATELIMITER_*` variables, then the libraries'. */
export const NODE_ENV_VARS: readonly string[] = [...CONFIG_ENV_VARS, ...LIBRARY_ENV_VARS];

/**
 * The `deno run` / `deno compile` permission flags of a node: network, the listed variables, and
 * the host name (for the default node id). No file access: Deno grants `/proc/self`, where
 * prom-client would read process metrics, only with `--allow-all`, so `src/metrics/metrics.ts` drops
 * those metrics instead. prom-client still tries to read `/proc/self/limits` once when its default
 * metrics are created, so every command also passes `--no-prompt`: the read then fails quietly
 * instead of stopping a node started from a terminal at a permission prompt.
 */
export function nodePermissionFlags(): string[] {
  return [
    "--allow-net",
    `--allow-env=${NODE_ENV_VARS.join(",")}`,
    "--allow-sys=hostname",
  ];
}
