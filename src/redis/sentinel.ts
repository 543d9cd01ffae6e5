/**
 * {@linkcode RedisClient} on a master found through Redis Sentinel
 * (`RATELIMITER_REDIS_MODE=sentinel`): node-redis's `createSentinel` asks the sentinels for the
 * master of `RATELIMITER_REDIS_SENTINEL_MASTER`, follows `switch-master` and reconnects to the new
 * master after a failover. This wrapper adds:
 *
 * - the first connection retried with backoff until the sentinels answer;
 * - a watchdog: when the connection has not been ready for {@linkcode SENTINEL_STUCK_MS}
 *   (node-redis can stay stuck once every sentinel restarted, its sentinel connection never
 *   re-established), the node-redis sentinel client is dropped and a new one built and connected.
 *
 * Scripts are reloaded on the new master through the usual `NOSCRIPT` path (`script.ts`).
 *
 * @module
 */
import { ClientOfflineError, createSentinel } from "redis";
import {
  type CommandOptions,
  reconnectDelay,
  type RedisClient,
  type RedisNode,
  type RedisSubscriber,
  type SendOptions,
} from "./connection.ts";
import { nodeOptions, type NodeSettings } from "./standalone.ts";
import { parseRedisUrl } from "./target.ts";

/** Settings of a sentinel connection. */
export interface SentinelSettings extends NodeSettings {
  /** The master's name the sentinels monitor. */
  master: string;
  /** The sentinels' own password, if they require one. */
  sentinelPassword?: string | undefined;
}

/** How long the connection may stay not ready before the sentinel client is rebuilt, in ms. */
export const SENTINEL_STUCK_MS = 5000;

type NodeRedisSentinel = ReturnType<typeof createSentinel>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function sentinelOptions(urls: string[], settings: SentinelSettings) {
  const sentinels = urls.map(parseRedisUrl);
  const first = sentinels[0]!;
  const socket = {
    connectTimeout: settings.connectTimeoutMs,
    reconnectStrategy: reconnectDelay,
    ...(first.tls ? { tls: true as const } : {}),
  };
  return {
    name: settings.master,
    sentinelRootNodes: sentinels.map((s) => ({ host: s.host, port: s.port })),
    nodeClientOptions: {
      name: settings.name,
      disableOfflineQueue: true,
      ...(first.username === undefined ? {} : { username: first.username }),
      ...(first.password === undefined ? {} : { password: first.password }),
      socket,
    },
    sentinelClientOptions: {
      ...(settings.sentinelPassword === undefined ? {} : { password: settings.sentinelPassword }),
      socket: { ...socket },
    },
    scanInterval: 2000,
    passthroughClientErrorEvents: true,
  };
}

/** A master behind Redis Sentinel. */
export class SentinelClient implements RedisClient {
  readonly mode = "sentinel" as const;
  readonly #urls: string[];
  readonly #settings: SentinelSettings;
  readonly #errorListeners = new Set<(error: Error) => void>();
  readonly #readyListeners = new Set<() => void>();
  readonly #subscriptions: [string, (message: string) => void][] = [];
  #sentinel: NodeRedisSentinel;
  #connected = false;
  #closed = false;
  #lastReady = Date.now();
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #rebuilding = false;

  constructor(urls: string[], settings: SentinelSettings) {
    if (urls.length === 0) throw new TypeError("Cannot connect to Sentinel without sentinels");
    this.#urls = urls;
    this.#settings = settings;
    this.#sentinel = this.#create();
  }

  #create(): NodeRedisSentinel {
    const sentinel = createSentinel(sentinelOptions(this.#urls, this.#settings));
    sentinel.on("error", (error: Error) => this.#emitError(error));
    return sentinel;
  }

  #emitError(error: Error): void {
    for (const listener of this.#errorListeners) listener(error);
  }

  get isReady(): boolean {
    return this.#connected && !this.#closed && this.#sentinel.isReady;
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  async sendCommand<T>(args: string[], options?: SendOptions): Promise<T> {
    if (!this.isReady) throw new ClientOfflineError();
    return await this.#sentinel.sendCommand<T>(false, args, nodeOptions(options));
  }

  masters(): RedisNode[] {
    return [{
      address: `sentinel:${this.#settings.master}`,
      sendCommand: <T>(args: string[], options?: CommandOptions) =>
        this.sendCommand<T>(args, options),
    }];
  }

  nodeOf(_key: string): string {
    return "";
  }

  subscriber(name: string): RedisSubscriber {
    return new SentinelSubscriber(new SentinelClient(this.#urls, { ...this.#settings, name }));
  }

  /** Subscribes on the master; kept across rebuilds of the sentinel client. */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    this.#subscriptions.push([channel, listener]);
    await this.#sentinel.subscribe(channel, listener);
  }

  on(event: "error" | "ready", listener: (error: Error) => void): this {
    if (event === "error") this.#errorListeners.add(listener);
    else this.#readyListeners.add(listener as () => void);
    return this;
  }

  async connect(): Promise<void> {
    await this.#connectLoop();
    this.#watchdog ??= setInterval(() => this.#watch(), 1000);
  }

  async #connectLoop(): Promise<void> {
    for (let retries = 0; !this.#closed; retries++) {
      try {
        await this.#sentinel.connect();
        for (const [channel, listener] of this.#subscriptions) {
          await this.#sentinel.subscribe(channel, listener);
        }
        this.#connected = true;
        this.#lastReady = Date.now();
        for (const listener of this.#readyListeners) listener();
        return;
      } catch (error) {
        this.#emitError(error instanceof Error ? error : new Error(String(error)));
        this.#sentinel.destroy();
        this.#sentinel = this.#create();
        await sleep(reconnectDelay(retries));
      }
    }
  }

  /** Rebuilds the sentinel client when it has stayed not ready too long. */
  #watch(): void {
    if (this.#closed || this.#rebuilding) return;
    if (this.#sentinel.isReady) {
      this.#lastReady = Date.now();
      return;
    }
    if (Date.now() - this.#lastReady < SENTINEL_STUCK_MS) return;
    this.#rebuilding = true;
    this.#emitError(new Error(`not ready for ${SENTINEL_STUCK_MS} ms: rebuilding the client`));
    const stuck = this.#sentinel;
    this.#sentinel = this.#create();
    try {
      stuck.destroy();
    } catch { /* already closed */ }
    this.#connectLoop().finally(() => this.#rebuilding = false);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#watchdog);
    try {
      await this.#sentinel.close();
    } catch {
      this.#sentinel.destroy();
    }
  }

  destroy(): void {
    this.#closed = true;
    clearInterval(this.#watchdog);
    this.#sentinel.destroy();
  }
}

/** A pub/sub connection to the master behind Sentinel, following it through failovers. */
class SentinelSubscriber implements RedisSubscriber {
  readonly #client: SentinelClient;

  constructor(client: SentinelClient) {
    this.#client = client;
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
