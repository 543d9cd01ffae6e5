/**
 * {@linkcode RedisClient} on a Redis Cluster (`RATELIMITER_REDIS_MODE=cluster`): node-redis's
 * `createCluster` routes each command to the master owning its first key's slot and follows
 * `MOVED` and `ASK` itself. This wrapper adds what it lacks:
 *
 * - the first connection keeps retrying with backoff (node-redis gives up after one round of the
 *   seed nodes), so a node started before its cluster serves in its failure mode meanwhile;
 * - a topology refresh whenever a command fails on the connection or with `CLUSTERDOWN` or
 *   `TRYAGAIN`: node-redis refreshes only on `MOVED`, which a master killed outright never sends,
 *   so without it the slots of a failed-over master would stay pointed at the dead address;
 * - `TRYAGAIN` and `CLUSTERDOWN` retried with a short backoff within `retryWithinMs`; a command
 *   refused before being sent (its master's connection down) sent again only if the refresh then
 *   points its slot at another master, else failed at once (the caller's failure mode), so the
 *   keys of a dead master answer fast instead of waiting out their deadline.
 *
 * Connections to the masters open lazily (`minimizeConnections`): an eager connect to a master
 * that died would hold node-redis's topology refresh until it came back.
 *
 * @module
 */
import { ClientClosedError, ClientOfflineError, createCluster } from "redis";
import {
  commandKey,
  type CommandOptions,
  reconnectDelay,
  type RedisClient,
  type RedisNode,
  type RedisSubscriber,
  type SendOptions,
} from "./connection.ts";
import { isConnectionError, replyCode } from "./errors.ts";
import { keySlot } from "./slot.ts";
import { nodeOptions, type NodeSettings } from "./standalone.ts";
import { parseRedisUrl } from "./target.ts";
import { withDeadline } from "../deadline.ts";

/** Settings of a cluster connection. */
export interface ClusterSettings extends NodeSettings {
  /**
   * How long a command refused by a cluster in transition (`TRYAGAIN`, `CLUSTERDOWN`, its master
   * unreachable) is retried, in ms; 0 fails it at once.
   */
  retryWithinMs: number;
}

type NodeRedisCluster = ReturnType<typeof createCluster>;

/** Replies and errors that mean "this slot cannot be served right now, ask again soon". */
export function isClusterTransient(error: unknown): boolean {
  if (error instanceof ClientOfflineError || error instanceof ClientClosedError) return true;
  const code = replyCode(error);
  return code === "TRYAGAIN" || code === "CLUSTERDOWN";
}

/** Whether `error` means the command was never sent (its node's connection is down). */
function isUnsent(error: unknown): boolean {
  return error instanceof ClientOfflineError || error instanceof ClientClosedError;
}

/** Shortest time between two topology refreshes, in ms. */
const REFRESH_INTERVAL_MS = 100;

/** The internals of node-redis's cluster this wrapper relies on (node-redis 5.x). */
interface ClusterInternals {
  _slots?: {
    rediscover?: (startWith: { options: unknown }) => Promise<void>;
  };
}

/** Builds node-redis's cluster options from the seed URLs (credentials and TLS of the first). */
function clusterOptions(urls: string[], settings: NodeSettings) {
  const first = parseRedisUrl(urls[0]!);
  const socket = {
    connectTimeout: settings.connectTimeoutMs,
    reconnectStrategy: reconnectDelay,
    ...(first.tls ? { tls: true as const } : {}),
  };
  return {
    rootNodes: urls.map((url) => ({ url })),
    minimizeConnections: true,
    defaults: {
      name: settings.name,
      disableOfflineQueue: true,
      ...(first.username === undefined ? {} : { username: first.username }),
      ...(first.password === undefined ? {} : { password: first.password }),
      socket,
    },
  };
}

/** Resolves after `ms`. */
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A Redis Cluster, reached through seed nodes. */
export class ClusterClient implements RedisClient {
  readonly mode = "cluster" as const;
  readonly #urls: string[];
  readonly #settings: ClusterSettings;
  readonly #cluster: NodeRedisCluster;
  readonly #errorListeners = new Set<(error: Error) => void>();
  readonly #readyListeners = new Set<() => void>();
  #connected = false;
  #closed = false;
  /** While connecting: the seed nodes' errors of this attempt, reported as one. */
  #seedErrors: string[] | undefined;
  #refreshing: Promise<void> | undefined;
  #lastRefresh = 0;
  #pubSubWatch: ReturnType<typeof setInterval> | undefined;

  /** A cluster reached through `urls` (seed nodes); not connected yet. */
  constructor(urls: string[], settings: ClusterSettings) {
    if (urls.length === 0) throw new TypeError("Cannot connect to a cluster without seed nodes");
    this.#urls = urls;
    this.#settings = settings;
    this.#cluster = createCluster(clusterOptions(urls, settings));
    this.#cluster.on("error", (error: Error) => {
      if (this.#seedErrors !== undefined) this.#seedErrors.push(error.message);
      else this.#emitError(error);
    });
    this.#cluster.on("node-error", (error: Error) => {
      if (this.#seedErrors !== undefined) this.#seedErrors.push(error.message);
      else this.#emitError(error);
    });
    this.#cluster.on("node-ready", () => {
      if (this.#connected) { for (const listener of this.#readyListeners) listener(); }
    });
  }

  #emitError(error: Error): void {
    for (const listener of this.#errorListeners) listener(error);
  }

  /**
   * Connected, not closed, and at least one master connected or not tried yet (connections open
   * on first use).
   */
  get isReady(): boolean {
    if (!this.#connected || this.#closed) return false;
    return this.#cluster.masters.some((m) => m.client === undefined || m.client.isReady);
  }

  get isOpen(): boolean {
    return !this.#closed && this.#cluster.isOpen;
  }

  async sendCommand<T>(args: string[], options?: SendOptions): Promise<T> {
    if (!this.#connected) throw new ClientOfflineError();
    const key = options?.key ?? commandKey(args);
    const sendOptions = nodeOptions(options);
    const retryUntil = Date.now() + this.#settings.retryWithinMs;
    for (let attempt = 0;; attempt++) {
      try {
        // A command without a key (PING, PUBLISH) goes to a master that is up, not just any node.
        if (key === undefined) return await this.#sendToLiveMaster<T>(args, sendOptions);
        return await this.#cluster.sendCommand<T>(key, false, args, sendOptions);
      } catch (error) {
        if (this.#closed) throw error;
        const transient = isClusterTransient(error);
        if (transient || isConnectionError(error)) this.refreshTopology();
        if (!transient) throw error;
        if (isUnsent(error)) {
          // Its master's connection is down: worth sending again only if a refresh under way
          // points the slot at another master (a promoted replica). Otherwise fail now: waiting
          // would only hold the check until its deadline while the master stays dead.
          const before = key === undefined ? "" : this.nodeOf(key);
          const refreshing = this.#refreshing;
          const left = retryUntil - Date.now();
          if (refreshing === undefined || left <= 0) throw error;
          await Promise.race([refreshing, sleep(left)]);
          if (key === undefined || this.nodeOf(key) === before || Date.now() >= retryUntil) {
            throw error;
          }
          continue;
        }
        // TRYAGAIN (a slot mid-migration) or CLUSTERDOWN: ask again shortly.
        const delay = Math.min(5 * 2 ** attempt, 50);
        if (Date.now() + delay > retryUntil) throw error;
        await sleep(delay);
      }
    }
  }

  /** Sends a keyless command to the first master whose connection is up (else any master). */
  async #sendToLiveMaster<T>(args: string[], options?: CommandOptions): Promise<T> {
    const masters = this.#cluster.masters;
    const live = masters.find((m) => m.client?.isReady === true) ?? masters[0];
    if (live === undefined) throw new ClientOfflineError();
    const client = await this.#cluster.nodeClient(live);
    return await client.sendCommand<T>(args, options);
  }

  /**
   * Asks the cluster for its slots again (at most once per {@linkcode REFRESH_INTERVAL_MS}), from
   * a master still connected or else the seed nodes. Never rejects.
   */
  refreshTopology(): Promise<void> {
    if (this.#refreshing !== undefined) return this.#refreshing;
    if (!this.#connected || Date.now() - this.#lastRefresh < REFRESH_INTERVAL_MS) {
      return Promise.resolve();
    }
    this.#lastRefresh = Date.now();
    const slots = (this.#cluster as unknown as ClusterInternals)._slots;
    if (typeof slots?.rediscover !== "function") return Promise.resolve();
    const live = this.#cluster.masters.find((m) => m.client?.isReady === true)?.client;
    const startWith = live ?? { options: { url: this.#urls[0] } };
    this.#refreshing = slots.rediscover(startWith as { options: unknown })
      .catch((error: unknown) => {
        this.#emitError(error instanceof Error ? error : new Error(String(error)));
      })
      .finally(() => {
        this.#refreshing = undefined;
        this.#lastRefresh = Date.now();
      });
    return this.#refreshing;
  }

  /**
   * Subscribes to a classic pub/sub channel on the node node-redis picked for pub/sub. While that
   * node's connection is down, the topology is refreshed every second: once the node is out of the
   * slot map (its replica promoted), node-redis moves the subscriptions to a live node.
   */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    await this.#cluster.subscribe(channel, listener);
    this.#pubSubWatch ??= setInterval(() => {
      const client = this.#cluster.pubSubNode?.client;
      if (client !== undefined && !client.isReady) this.refreshTopology();
    }, 1000);
  }

  /** `host:port` of the node node-redis subscribes on, if any. */
  pubSubAddress(): string | undefined {
    return this.#cluster.pubSubNode?.address;
  }

  masters(): RedisNode[] {
    return [...this.#cluster.masters]
      .sort((a, b) => a.address < b.address ? -1 : a.address > b.address ? 1 : 0)
      .map((master) => ({
        address: master.address,
        sendCommand: async <T>(args: string[], options?: CommandOptions): Promise<T> => {
          const client = await this.#cluster.nodeClient(master);
          return await client.sendCommand<T>(args, options);
        },
      }));
  }

  nodeOf(key: string): string {
    return this.#cluster.slots[keySlot(key)]?.master.address ?? "";
  }

  subscriber(name: string): RedisSubscriber {
    return new ClusterSubscriber(this.#urls, { ...this.#settings, name });
  }

  /** Listens to connection errors or (re)connections. */
  on(event: "error" | "ready", listener: (error: Error) => void): this {
    if (event === "error") this.#errorListeners.add(listener);
    else this.#readyListeners.add(listener as () => void);
    return this;
  }

  async connect(): Promise<void> {
    for (let retries = 0; !this.#closed; retries++) {
      // One error per attempt, the same text while nothing changes: logged once, not per seed.
      this.#seedErrors = [];
      try {
        await this.#cluster.connect();
        this.#seedErrors = undefined;
        // Open the masters' connections now, so the first checks find them ready; wait for them a
        // little (a master that died must not hold the start).
        const opening = this.#cluster.masters.map((master) =>
          this.#cluster.nodeClient(master).catch(() => {/* reported through "node-error" */})
        );
        await withDeadline(Promise.all(opening), this.#settings.connectTimeoutMs);
        this.#connected = true;
        for (const listener of this.#readyListeners) listener();
        return;
      } catch (error) {
        const seeds = [...new Set(this.#seedErrors)].sort();
        this.#seedErrors = undefined;
        const message = error instanceof Error ? error.message : String(error);
        this.#emitError(new Error([message, ...seeds].join("; ")));
        await sleep(reconnectDelay(retries));
      }
    }
    throw new ClientClosedError();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pubSubWatch);
    if (this.#cluster.isOpen) await this.#cluster.close();
  }

  destroy(): void {
    this.#closed = true;
    clearInterval(this.#pubSubWatch);
    if (this.#cluster.isOpen) this.#cluster.destroy();
  }
}

/**
 * A cluster pub/sub connection: node-redis subscribes on one node (a cluster broadcasts classic
 * PUBLISH to every node), moved to a live node after that one fails (see
 * {@linkcode ClusterClient.subscribe}).
 */
class ClusterSubscriber implements RedisSubscriber {
  readonly #client: ClusterClient;

  constructor(urls: string[], settings: ClusterSettings) {
    this.#client = new ClusterClient(urls, settings);
  }

  get isOpen(): boolean {
    return this.#client.isOpen;
  }

  connect(): Promise<void> {
    return this.#client.connect();
  }

  subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    return this.#client.subscribe(channel, listener);
  }

  on(event: "error" | "ready", listener: (error: Error) => void): this {
    this.#client.on(event, listener);
    return this;
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  destroy(): void {
    this.#client.destroy();
  }
}
