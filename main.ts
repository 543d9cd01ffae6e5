/**
 * The composition root: the only module that reads `Deno.env`. Parses the configuration, opens the
 * store, builds the app from its parts, serves, and shuts everything down in order on
 * SIGINT/SIGTERM.
 *
 * @module
 */
import { createApp } from "./src/app.ts";
import { type Config, CONFIG_ENV_VARS, ConfigError, parseConfig, redactUrl } from "./src/config.ts";
import { LocalEvents } from "./src/events.ts";
import { noOverrides } from "./src/limiter/resolve.ts";
import { createLogger, type Logger } from "./src/log.ts";
import { createMetrics } from "./src/metrics.ts";
import { closeRedis, initRedis } from "./src/redis.ts";
import { BlockCacheStore } from "./src/store/block_cache_store.ts";
import { MemoryStore } from "./src/store/memory_store.ts";
import { RedisStore } from "./src/store/redis_store.ts";
import type { Store } from "./src/store/types.ts";
import { VERSION } from "./src/version.ts";

const ACTIVE_COUNTERS_INTERVAL_MS = 5000;

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "localhost";
  }
}

/** Reads only the variables the config schema knows, so `--allow-env` can list exactly those. */
function readEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of CONFIG_ENV_VARS) env[name] = Deno.env.get(name);
  return env;
}

/**
 * `--healthcheck`: asks this node's `/health` over loopback and exits 0 if it answers 200, else
 * 1. The container's HEALTHCHECK runs it, since the runtime image has no curl.
 */
async function healthcheck(config: Config): Promise<number> {
  const host = config.listenHost === "0.0.0.0" || config.listenHost === "::"
    ? "127.0.0.1"
    : config.listenHost;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${config.nodePort}/health`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.status === 200 ? 0 : 1;
  } catch {
    return 1;
  }
}

async function main(args: string[]): Promise<number> {
  const bootLogger = createLogger();
  let config;
  try {
    config = parseConfig(readEnv(), { hostname: hostname() });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    bootLogger.error("invalid_config", { message: error.message, issues: error.issues });
    return 1;
  }
  if (args.includes("--healthcheck")) return await healthcheck(config);
  const logger = createLogger({ level: config.logLevel, base: { node_id: config.nodeId } });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger.error("unhandled_rejection", { error: String(event.reason) });
  });

  const metrics = createMetrics({ nodeId: config.nodeId });
  // Issue 3's RedisEvents (pub/sub across nodes) replaces this when the management API lands.
  const events = new LocalEvents();
  let store: Store;
  if (config.redisUrl === undefined) {
    store = new MemoryStore({ maxKeys: config.memoryMaxKeys });
    logger.info("store_memory", { note: "no RATELIMITER_REDIS_URL: single node, embedded store" });
  } else {
    try {
      const client = await initRedis(config.redisUrl, { logger });
      const redisStore = new RedisStore({ client, prefix: config.keyPrefix });
      await redisStore.init();
      store = config.blockCache
        ? new BlockCacheStore({
          inner: redisStore,
          events,
          onHit: () => metrics.blockCacheHits.inc(),
        })
        : redisStore;
    } catch (error) {
      logger.error("redis_unavailable", {
        url: redactUrl(config.redisUrl),
        message: error instanceof Error ? error.message : String(error),
      });
      await closeRedis();
      return 1;
    }
  }

  const app = createApp({ config, store, metrics, logger, overrides: noOverrides });

  const activeCounters = startActiveCounters(store, (n) => metrics.activeCounters.set(n), logger);

  const server = Deno.serve({
    hostname: config.listenHost,
    port: config.nodePort,
    onListen: ({ hostname, port }) => {
      logger.info("listening", {
        hostname,
        port,
        version: VERSION,
        store: store.kind,
        default_limit: config.defaultLimit,
        default_window_ms: config.defaultWindowMs,
      });
    },
  }, app.fetch);

  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) => {
    stopping ??= (async () => {
      logger.info("shutdown_started", { signal, grace_ms: config.shutdownGraceMs });
      // Stop accepting, then wait for in-flight requests, bounded by the grace period.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const graceOver = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), config.shutdownGraceMs);
      });
      const result = await Promise.race([
        server.shutdown().then(() => "drained" as const),
        graceOver,
      ]);
      clearTimeout(timer);
      clearInterval(activeCounters);
      await store.close();
      await events.close();
      await closeRedis();
      logger.info("shutdown_complete", { signal, in_flight: result });
    })();
    return stopping;
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      shutdown(signal).then(() => Deno.exit(0));
    });
  }
  await server.finished;
  await stopping;
  return 0;
}

/** Keeps `ratelimiter_active_counters` current in the background, one count at a time. */
function startActiveCounters(
  store: Store,
  set: (n: number) => void,
  logger: Logger,
): ReturnType<typeof setInterval> {
  let running = false;
  const update = async () => {
    if (running) return;
    running = true;
    try {
      set(await store.countCounters());
    } catch (error) {
      logger.debug("active_counters_failed", { error: String(error) });
    } finally {
      running = false;
    }
  };
  update();
  return setInterval(update, ACTIVE_COUNTERS_INTERVAL_MS);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
