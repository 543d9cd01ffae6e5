/**
 * The composition root: the only module that reads `Deno.env`. Parses the configuration, opens the
 * store, builds the app from its parts, serves, and shuts everything down in order on
 * SIGINT/SIGTERM.
 *
 * @module
 */
import { ActiveCounters } from "./src/cluster/active_counters.ts";
import { createApp } from "./src/http/app.ts";
import { type Config, CONFIG_ENV_VARS, ConfigError, parseConfig } from "./src/config.ts";
import { redactUrl } from "./src/redis/redact.ts";
import { type ClusterEvents, LocalEvents } from "./src/cluster/events.ts";
import { RedisEvents } from "./src/cluster/redis_events.ts";
import { listen, type Listener } from "./src/http/listener.ts";
import { createLogger } from "./src/log.ts";
import { createMetrics } from "./src/metrics/metrics.ts";
import { MemoryOverrideStore, type OverrideStore } from "./src/cluster/override_store.ts";
import { RedisOverrideStore } from "./src/cluster/redis_override_store.ts";
import { closeRedis, initRedis, type RedisClient } from "./src/redis/client.ts";
import {
  MemoryRegistryBackend,
  NodeIdConflictError,
  NodeRegistry,
  type RegistryBackend,
} from "./src/cluster/registry.ts";
import { RedisRegistryBackend } from "./src/cluster/redis_registry.ts";
import { BlockCacheStore } from "./src/store/block_cache_store.ts";
import { MemoryStore } from "./src/store/memory_store.ts";
import { RedisStore } from "./src/store/redis_store.ts";
import { ResilientStore } from "./src/store/resilient_store.ts";
import type { Store } from "./src/store/types.ts";
import { VERSION } from "./src/version.ts";
import { DEADLINE_PASSED, withDeadline } from "./src/deadline.ts";

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

  if (config.adminToken === undefined) {
    logger.warn("admin_api_open", {
      message: "RATELIMITER_ADMIN_TOKEN is not set: anyone who can reach this node can change " +
        "limits and reset counters through /api",
    });
  }

  const metrics = createMetrics({ nodeId: config.nodeId });
  // Replaced once the registry exists; the local failure mode divides limits by the live nodes.
  let liveNodeCount = () => 1;
  let store: Store;
  let client: RedisClient | undefined;
  let events: ClusterEvents = new LocalEvents();
  let overrideStore: OverrideStore = new MemoryOverrideStore();
  let registryBackend: RegistryBackend = new MemoryRegistryBackend();
  if (config.redisUrl === undefined) {
    store = new MemoryStore({
      maxKeys: config.memoryMaxKeys,
      // A full store refuses new keys; `local` has no other store to turn to, so it answers open.
      whenFull: config.failureMode === "closed" ? "closed" : "open",
      metrics,
      logger,
    });
    logger.info("store_memory", { note: "no RATELIMITER_REDIS_URL: single node, embedded store" });
  } else {
    try {
      client = await initRedis(config.redisUrl, { logger });
      const redisStore = new RedisStore({ client, prefix: config.keyPrefix });
      await redisStore.init();
      // Deadlines, circuit breaker and the failure mode; the embedded store needs none of them.
      const resilient = new ResilientStore({
        inner: redisStore,
        timeoutMs: config.storeTimeoutMs,
        failureMode: config.failureMode,
        liveNodes: () => liveNodeCount(),
        localMaxKeys: config.memoryMaxKeys,
        metrics,
        logger,
      });
      events = await RedisEvents.connect({ client, prefix: config.keyPrefix, logger });
      // Outermost: a key Redis blocked stays answered from memory, even during an outage.
      store = config.blockCache
        ? new BlockCacheStore({
          inner: resilient,
          events,
          onHit: () => metrics.blockCacheHits.inc(),
        })
        : resilient;
      overrideStore = new RedisOverrideStore({
        client,
        prefix: config.keyPrefix,
        events,
        logger,
      });
      registryBackend = new RedisRegistryBackend({ client, prefix: config.keyPrefix });
    } catch (error) {
      logger.error("redis_unavailable", {
        url: redactUrl(config.redisUrl),
        message: error instanceof Error ? error.message : String(error),
      });
      await events.close();
      await closeRedis();
      return 1;
    }
  }

  const registry = new NodeRegistry({
    backend: registryBackend,
    id: config.nodeId,
    address: `${config.nodeHost}:${config.nodePort}`,
    ttlSeconds: config.nodeTtlSeconds,
    heartbeatSeconds: config.nodeHeartbeatSeconds,
    logger,
  });
  liveNodeCount = () => registry.liveNodeCount();
  const closeAll = async () => {
    await Promise.all([overrideStore.close(), events.close(), store.close()]);
    await closeRedis({ timeoutMs: 2000 });
  };
  try {
    await overrideStore.start();
    await registry.start();
  } catch (error) {
    if (error instanceof NodeIdConflictError) {
      logger.error("node_id_conflict", {
        message: error.message,
        node_id: error.id,
        other_address: error.address,
      });
    } else {
      logger.error("startup_failed", {
        message: error instanceof Error ? error.message : String(error),
      });
    }
    await closeAll();
    return 1;
  }

  const app = createApp({ config, store, metrics, logger, overrideStore, registry, events });

  const activeCounters = new ActiveCounters({
    store,
    set: (n) => metrics.activeCounters.set(n),
    redis: client === undefined
      ? undefined
      : { client, prefix: config.keyPrefix, instance: registry.instance },
    logger,
  });
  activeCounters.start();

  let listener: Listener;
  try {
    listener = listen({
      hostname: config.listenHost,
      port: config.nodePort,
      handler: app.fetch,
      logger,
      onListen: ({ hostname, port }, restarts) => {
        logger.info("listening", {
          hostname,
          port,
          version: VERSION,
          store: store.kind,
          default_limit: config.defaultLimit,
          default_window_ms: config.defaultWindowMs,
          limits_policy: config.limitsPolicy,
          restarts,
        });
      },
    });
  } catch (error) {
    logger.error("listen_failed", {
      port: config.nodePort,
      message: error instanceof Error ? error.message : String(error),
    });
    await activeCounters.stop();
    await registry.stop().catch(() => {});
    await closeAll();
    return 1;
  }

  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) => {
    stopping ??= (async () => {
      logger.info("shutdown_started", { signal, grace_ms: config.shutdownGraceMs });
      // Leave the registry at once, so the operator sees the node gone while it drains.
      const deregistered = registry.stop().catch((error) => {
        logger.warn("deregister_failed", {
          error: error instanceof Error ? error.message : String(error),
        });
      });
      // Stop accepting, then wait for in-flight requests, bounded by the grace period.
      const drained = await withDeadline(listener.shutdown(), config.shutdownGraceMs);
      const result = drained === DEADLINE_PASSED ? "timeout" : "drained";
      await Promise.all([activeCounters.stop(), deregistered]);
      await closeAll();
      logger.info("shutdown_complete", { signal, in_flight: result });
    })();
    return stopping;
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      shutdown(signal).then(() => Deno.exit(0));
    });
  }
  try {
    await listener.finished;
  } catch (error) {
    // Not listening and unable to listen again: leave the registry and exit with an error, so the
    // orchestrator restarts the process rather than keep one that heart-beats but never serves.
    logger.error("listener_dead", {
      message: error instanceof Error ? error.message : String(error),
    });
    await shutdown("listener_dead");
    return 1;
  }
  await stopping;
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
