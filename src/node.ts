/**
 * Builds one node of the service from its {@linkcode Config} and owns its lifetime: the backends
 * (embedded or Redis), the store stack, the cluster parts, the app, the background jobs, the
 * listener, and one {@linkcode RatelimiterNode.close} that stops them in the right order. Like
 * envoy's runner, construction is split in steps: {@linkcode createNode} (backends and cluster
 * parts, started), {@linkcode createStoreStack} (the store decorators in order) and
 * {@linkcode RatelimiterNode.serve} (listen). `main.ts` only parses the configuration, calls these
 * and turns the outcome into an exit code.
 *
 * @module
 */
import type { ClusterEvents } from "./cluster/events.ts";
import { MemoryActiveCounters } from "./cluster/memory_active_counters.ts";
import { MemoryEvents } from "./cluster/memory_events.ts";
import { MemoryOverrideStore } from "./cluster/memory_override_store.ts";
import { MemoryRegistry } from "./cluster/memory_registry.ts";
import { NodeRegistry } from "./cluster/node_registry.ts";
import type { OverrideStore } from "./cluster/override_store.ts";
import { RedisActiveCounters } from "./cluster/redis_active_counters.ts";
import { RedisEvents } from "./cluster/redis_events.ts";
import { RedisOverrideStore } from "./cluster/redis_override_store.ts";
import { RedisRegistry } from "./cluster/redis_registry.ts";
import { MemoryNodeStats } from "./cluster/memory_node_stats.ts";
import { LocalFigures, type NodeStats } from "./cluster/node_stats.ts";
import { RedisNodeStats } from "./cluster/redis_node_stats.ts";
import { DOWN_NODE_KEEP_FACTOR, NodeIdConflictError, type Registry } from "./cluster/registry.ts";
import { type Config, redisTarget } from "./config.ts";
import { describeTarget, type RedisTarget } from "./redis/target.ts";
import { internalKeyPrefix, slotTag } from "./store/keys.ts";
import { DEADLINE_PASSED, withDeadline } from "./deadline.ts";
import { createApp } from "./http/app.ts";
import { listen, type Listener } from "./http/listener.ts";
import type { Logger } from "./log.ts";
import { createMetrics, type Metrics } from "./metrics/metrics.ts";
import { closeRedis, initRedis, type RedisClient } from "./redis/client.ts";
import { isConnectionError } from "./redis/errors.ts";
import { redisCall } from "./redis/call.ts";
import { BlockCacheStore } from "./store/block_cache_store.ts";
import { MemoryStore } from "./store/memory_store.ts";
import { RedisStore } from "./store/redis_store.ts";
import { BreakerStore } from "./store/breaker_store.ts";
import { FailureModeStore } from "./store/failure_mode_store.ts";
import type { Store } from "./store/types.ts";
import { VERSION } from "./version.ts";
import type { GrpcServer } from "./envoy/grpc_server.ts";
import { startH2GrpcServer } from "./envoy/h2_server.ts";
import { createRateLimitService } from "./envoy/service.ts";
import { Rules } from "./rules/rules_holder.ts";
import { RulesError } from "./rules/rules_error.ts";

/**
 * Thrown by {@linkcode createNode} and {@linkcode RatelimiterNode.serve} when the node cannot
 * start. The cause has already been logged (`redis_unavailable`, `node_id_conflict`,
 * `startup_failed`, `listen_failed`) and everything opened so far closed: the caller only exits.
 */
export class NodeStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NodeStartError";
  }
}

/** Options for {@linkcode createNode}. */
export interface CreateNodeOptions {
  /** Receives every log line of the node, with the node id already in its base fields. */
  logger: Logger;
}

/** A built node; see {@linkcode createNode}. */
export interface RatelimiterNode {
  /** The outermost store of the stack, as the app uses it. */
  readonly store: Store;
  /** This node's entry in the registry, started (heart-beating; registered once Redis answers). */
  readonly registry: NodeRegistry;
  /**
   * The operator's rules (`RATELIMITER_RULES_FILE`): `rules.current()` is the rule set in force,
   * swapped whole on a reload (file change, or `rules.reload()` on SIGHUP).
   */
  readonly rules: Rules;
  /** The HTTP handler (the Hono app's `fetch`). */
  readonly fetch: Deno.ServeHandler;
  /**
   * The port of the gRPC server of Envoy's protocol once {@linkcode RatelimiterNode.serve} has
   * started it; `undefined` before, or when `config.grpcPort` is 0.
   */
  readonly grpcPort: number | undefined;
  /**
   * Starts listening on `config.listenHost:config.nodePort`, started again when it dies (see
   * `src/http/listener.ts`). Resolves once the socket is bound (`listening` is logged when it
   * listens); rejects with a {@linkcode NodeStartError} (after logging `listen_failed` and closing
   * the node) when the first listen fails, e.g. the port is in use.
   */
  serve(): Promise<void>;
  /**
   * Resolves after {@linkcode RatelimiterNode.close}; rejects when the listener died and could not
   * listen again, or with a {@linkcode NodeStartError} (the node then closes itself) when a node
   * started while Redis was down finds, once it answers, its id held by a live node. Pending until
   * {@linkcode RatelimiterNode.serve} was called, except for that rejection.
   */
  readonly finished: Promise<void>;
  /**
   * Drains and stops the node, once however often it is called: leaves the registry at once, stops
   * accepting and waits for in-flight requests (bounded by `config.shutdownGraceMs`), stops the
   * background count and the stats publisher, then closes the override store, events, store and Redis. Logs
   * `shutdown_started` and `shutdown_complete` with `reason` as their `signal`.
   */
  close(reason: string): Promise<void>;
}

/** Options for {@linkcode createStoreStack}. */
export interface StoreStackOptions {
  config: Config;
  /** The Redis store, initialised; unset: the embedded store. */
  redis?: RedisStore | undefined;
  /** The cluster's events, which the block cache follows (Redis only). */
  events: ClusterEvents;
  /** Live nodes of the cluster, which the `local` failure mode divides limits by. */
  liveNodes: () => number;
  metrics: Metrics;
  logger: Logger;
}

/**
 * The counter stores in order, innermost first. Embedded: a bare {@linkcode MemoryStore} (a full
 * store refuses new keys; with no other store to turn to, `local` answers open). Redis:
 * {@linkcode RedisStore} → {@linkcode BreakerStore} (deadlines, circuit breaker, in-flight cap)
 * → {@linkcode FailureModeStore} (open, closed or local answers while the store fails) →
 * {@linkcode BlockCacheStore} when `config.blockCache` (outermost, so a key Redis blocked stays
 * answered from memory, even during an outage).
 */
export function createStoreStack(options: StoreStackOptions): Store {
  const { config, metrics, logger } = options;
  if (options.redis === undefined) {
    return new MemoryStore({
      maxKeys: config.memoryMaxKeys,
      whenFull: config.failureMode === "closed" ? "closed" : "open",
      metrics,
      logger,
    });
  }
  const breaker = new BreakerStore({
    inner: options.redis,
    timeoutMs: config.storeTimeoutMs,
    failureMode: config.failureMode,
    metrics,
    logger,
  });
  const resilient = new FailureModeStore({
    inner: breaker,
    failureMode: config.failureMode,
    liveNodes: options.liveNodes,
    localMaxKeys: config.memoryMaxKeys,
    metrics,
  });
  if (!config.blockCache) return resilient;
  return new BlockCacheStore({
    inner: resilient,
    events: options.events,
    onHit: () => metrics.blockCacheHits.inc(),
  });
}

/**
 * Logs `redis_is_cluster_node` (error) when the one Redis of standalone or sentinel mode is a
 * Redis Cluster node: it would answer MOVED for the keys of other masters' slots, so those checks
 * would take the failure mode. Says nothing when Redis cannot tell.
 */
async function warnIfClusterNode(client: RedisClient, logger: Logger): Promise<void> {
  try {
    const info = await redisCall<string>(client, ["INFO", "cluster"]);
    if (/cluster_enabled:1/.test(info)) {
      logger.error("redis_is_cluster_node", {
        message: "RATELIMITER_REDIS_URL names a Redis Cluster node: set " +
          "RATELIMITER_REDIS_MODE=cluster, or the keys of other masters' slots fail",
      });
    }
  } catch {
    // An old or restricted Redis (INFO refused by ACL): nothing to say.
  }
}

/** The prefix of the internal keys: hash-tagged on a Redis Cluster (see `store/keys.ts`). */
function internalPrefixOf(config: Config, target: RedisTarget | undefined): string {
  return internalKeyPrefix(config.keyPrefix, target?.mode === "cluster");
}

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);

/** The backends and shared state of a node: all in memory, or all on one Redis. */
interface Backends {
  client: RedisClient | undefined;
  /** Resolves when Redis first answers (at once if it did at start, or on the embedded store). */
  connected: Promise<void>;
  store: Store;
  events: ClusterEvents;
  overrideStore: OverrideStore;
  registryBackend: Registry;
}

/**
 * Opens the backends: the embedded ones, or a connection to Redis and the parts built on it. Redis
 * need not answer: if its first connection attempt fails, logs `redis_unavailable` (warn) once and
 * returns parts that fail fast (the store stack answers in the failure mode) until the client,
 * reconnecting in the background, gets through. Loads the scripts only if Redis answered (they
 * load on first use otherwise). On any other failure (a script Redis rejects, pub/sub silent
 * although Redis answered) logs `redis_unavailable` (error), closes what it opened and throws a
 * {@linkcode NodeStartError}.
 */
async function openBackends(
  config: Config,
  liveNodes: () => number,
  metrics: Metrics,
  logger: Logger,
): Promise<Backends> {
  const stack = { config, liveNodes, metrics, logger };
  const target = redisTarget(config);
  if (target === undefined) {
    const events = new MemoryEvents();
    const store = createStoreStack({ ...stack, events });
    logger.info("store_memory", { note: "no RATELIMITER_REDIS_URL: single node, embedded store" });
    return {
      client: undefined,
      connected: Promise.resolve(),
      store,
      events,
      overrideStore: new MemoryOverrideStore({ events, logger }),
      registryBackend: new MemoryRegistry(),
    };
  }
  let events: ClusterEvents = new MemoryEvents();
  try {
    const { client, unavailable, connected } = await initRedis(target, {
      logger,
      // Retries end before the store deadline, so a failure can still say which master failed.
      retryWithinMs: Math.floor(config.storeTimeoutMs * 0.75),
    });
    if (unavailable !== undefined) {
      logger.warn("redis_unavailable", {
        url: describeTarget(target),
        message: unavailable,
        failure_mode: config.failureMode,
        note: "serving /check in the failure mode and /ready 503; connecting and registering " +
          "as soon as Redis answers",
      });
    }
    const redis = new RedisStore({
      client,
      prefix: config.keyPrefix,
      keyLayout: config.keyLayout,
      referenceDefaults: { limit: config.defaultLimit, windowMs: config.defaultWindowMs },
      coalesce: config.coalesce,
    });
    if (unavailable === undefined) {
      // A connection lost just now is no reason to stop: the scripts load on first use.
      await redis.init().catch((error) => {
        if (!isConnectionError(error)) throw error;
      });
      if (target.mode !== "cluster") await warnIfClusterNode(client, logger);
    }
    events = await RedisEvents.connect({ client, prefix: config.keyPrefix, logger });
    const internal = internalPrefixOf(config, target);
    return {
      client,
      connected,
      store: createStoreStack({ ...stack, redis, events }),
      events,
      overrideStore: new RedisOverrideStore({ client, prefix: internal, events, logger }),
      registryBackend: new RedisRegistry({ client, prefix: internal }),
    };
  } catch (error) {
    logger.error("redis_unavailable", {
      url: describeTarget(target),
      message: messageOf(error),
    });
    await events.close();
    await closeRedis();
    throw new NodeStartError("Cannot start the node: Redis is unavailable", { cause: error });
  }
}

/**
 * Builds a node from `config` and starts everything but the listener: the backends, the override
 * store (loaded), the registry (registered and heart-beating), the stats publisher, the app and the background count of
 * active counters. Logs `admin_api_open` when no admin token is set. Redis need not answer: then
 * the override store starts empty and the node registers, loads the overrides and subscribes to
 * events as soon as it does (see `openBackends`). Throws a {@linkcode NodeStartError} (after
 * logging why and closing what it opened) when it cannot start, e.g. another live node has the
 * same id.
 */
export async function createNode(
  config: Config,
  options: CreateNodeOptions,
): Promise<RatelimiterNode> {
  const { logger } = options;
  if (config.adminToken === undefined) {
    logger.warn("admin_api_open", {
      message: "RATELIMITER_ADMIN_TOKEN is not set: anyone who can reach this node can change " +
        "limits and reset counters through /api",
    });
  }

  const metrics = createMetrics({ nodeId: config.nodeId });
  // First, before anything opens: a node must not start with rules it cannot read.
  let rules: Rules;
  try {
    rules = await Rules.load({
      path: config.rulesFile,
      logger,
      onReload: (result) => metrics.rulesReloads.labels({ result }).inc(),
    });
  } catch (error) {
    if (!(error instanceof RulesError)) throw error;
    logger.error("invalid_rules", { path: config.rulesFile, issues: error.issues });
    throw new NodeStartError(`Cannot start the node: invalid rules in ${config.rulesFile}`, {
      cause: error,
    });
  }
  // Replaced once the registry exists; the local failure mode divides limits by the live nodes.
  let liveNodeCount = () => 1;
  // Replaced once the node can close itself (below).
  let lateConflict: (error: NodeIdConflictError) => void = () => {};
  const { client, connected, store, events, overrideStore, registryBackend } = await openBackends(
    config,
    () => liveNodeCount(),
    metrics,
    logger,
  ).catch(async (error) => {
    await rules.close();
    throw error;
  });

  const registry = new NodeRegistry({
    backend: registryBackend,
    id: config.nodeId,
    address: `${config.nodeHost}:${config.nodePort}`,
    ttlSeconds: config.nodeTtlSeconds,
    heartbeatSeconds: config.nodeHeartbeatSeconds,
    logger,
    onLateConflict: (error) => lateConflict(error),
  });
  liveNodeCount = () => registry.liveNodeCount();
  const closeBackends = async () => {
    await Promise.all([overrideStore.close(), events.close(), store.close(), rules.close()]);
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
      logger.error("startup_failed", { message: messageOf(error) });
    }
    await closeBackends();
    throw new NodeStartError("Cannot start the node", { cause: error });
  }

  // Each node's recent rates and latency, published once a second for `/api/cluster`.
  const statsOptions = { id: config.nodeId, figures: new LocalFigures({ metrics, store }), logger };
  const nodeStats: NodeStats = client === undefined
    ? new MemoryNodeStats(statsOptions)
    : new RedisNodeStats({
      ...statsOptions,
      client,
      prefix: internalPrefixOf(config, redisTarget(config)),
      keepMs: config.nodeTtlSeconds * 1000 * DOWN_NODE_KEEP_FACTOR,
    });
  nodeStats.start();

  // Envoy's ShouldRateLimit, shared by the gRPC server and `POST /json`.
  const rls = createRateLimitService({
    store,
    rules: () => rules.current(),
    overrides: overrideStore,
    metrics,
    rateLimitHeaders: config.rlsRateLimitHeaders,
    // One script may only touch one slot's keys: on a cluster, atomic per slot tag.
    ...(config.redisUrl !== undefined && config.redisMode === "cluster"
      ? { atomicScope: slotTag }
      : {}),
  });

  const app = createApp({
    config,
    store,
    metrics,
    logger,
    overrideStore,
    registry,
    nodeStats,
    events,
    rls,
    rules,
  });

  const setActiveCounters = (n: number) => metrics.activeCounters.set(n);
  const activeCounters = client === undefined
    ? new MemoryActiveCounters({ store, set: setActiveCounters, logger })
    : new RedisActiveCounters({
      client,
      prefix: config.keyPrefix,
      internalPrefix: internalPrefixOf(config, redisTarget(config)),
      instance: registry.instance,
      set: setActiveCounters,
      logger,
    });
  activeCounters.start();

  let listener: Listener | undefined;
  let grpcServer: GrpcServer | undefined;
  let served!: (listener: Listener) => void;
  const listening = new Promise<Listener>((resolve) => served = resolve);
  let conflicted!: (error: NodeStartError) => void;
  const conflict = new Promise<never>((_, reject) => conflicted = reject);
  const finished = Promise.race([listening.then((l) => l.finished), conflict]);
  // Looked at only after serve(); a rejection is never unhandled meanwhile.
  finished.catch(() => {});

  let stopping: Promise<void> | undefined;
  const close = (reason: string) => {
    stopping ??= (async () => {
      logger.info("shutdown_started", { signal: reason, grace_ms: config.shutdownGraceMs });
      // Leave the registry at once, so the operator sees the node gone while it drains.
      const deregistered = registry.stop().catch((error) => {
        logger.warn("deregister_failed", { error: messageOf(error) });
      });
      // Stop accepting, then wait for in-flight requests, bounded by the grace period.
      let result = "drained";
      const grpcClosed = grpcServer?.close(config.shutdownGraceMs);
      if (listener !== undefined) {
        const drained = await withDeadline(listener.shutdown(), config.shutdownGraceMs);
        if (drained === DEADLINE_PASSED) result = "timeout";
      }
      await grpcClosed;
      await Promise.all([activeCounters.stop(), nodeStats.stop(), deregistered]);
      await closeBackends();
      logger.info("shutdown_complete", { signal: reason, in_flight: result });
    })();
    return stopping;
  };

  // Started while Redis was down: the first heartbeat that gets through registers the node. If it
  // finds the id held by a live node, this node must not run, as if it had found that at start.
  let conflictSeen = false;
  lateConflict = (error) => {
    if (conflictSeen) return;
    conflictSeen = true;
    logger.error("node_id_conflict", {
      message: error.message,
      node_id: error.id,
      other_address: error.address,
    });
    conflicted(new NodeStartError("Cannot run the node: its id is taken", { cause: error }));
    close("node_id_conflict");
  };
  if (!registry.registered) {
    // Register as soon as Redis answers, rather than at the next heartbeat (up to its interval).
    connected.then(() => {
      if (stopping === undefined && !registry.registered) return registry.heartbeat();
    });
  }

  return {
    store,
    registry,
    rules,
    fetch: app.fetch,
    get grpcPort() {
      return grpcServer?.port;
    },
    finished,
    close,
    async serve() {
      if (listener !== undefined) return;
      try {
        listener = listen({
          hostname: config.listenHost,
          port: config.nodePort,
          reusePort: config.reusePort,
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
        logger.error("listen_failed", { port: config.nodePort, message: messageOf(error) });
        await activeCounters.stop();
        await nodeStats.stop();
        await registry.stop().catch(() => {});
        await closeBackends();
        throw new NodeStartError("Cannot start the node: cannot listen", { cause: error });
      }
      if (config.grpcPort !== 0) {
        try {
          grpcServer = await startH2GrpcServer({
            hostname: config.listenHost,
            port: config.grpcPort,
            shouldRateLimit: rls,
            serving: () => stopping === undefined,
            bodyTimeoutMs: config.bodyTimeoutMs,
            logger,
            metrics,
          });
        } catch (error) {
          logger.error("listen_failed", { port: config.grpcPort, message: messageOf(error) });
          await listener.shutdown().catch(() => {});
          await activeCounters.stop();
          await nodeStats.stop();
          await registry.stop().catch(() => {});
          await closeBackends();
          throw new NodeStartError("Cannot start the node: cannot listen for gRPC", {
            cause: error,
          });
        }
      }
      served(listener);
    },
  };
}
