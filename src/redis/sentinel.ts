/**
 * {@linkcode RedisClient} on a master found through Redis Sentinel
 * (`RATELIMITER_REDIS_MODE=sentinel`).
 *
 * node-redis's own `createSentinel` was tried first and dropped: while every sentinel is down it
 * holds every command until one answers again, although the master itself is up (its reconnect
 * loop blocks the command path; node-redis issues #3127 and #3237 report sentinel reconnection
 * failures), so a node would stop answering for as long as the sentinels are away. This client
 * follows the master itself instead:
 *
 * - it asks the sentinels (`SENTINEL GET-MASTER-ADDR-BY-NAME`, each in turn until one answers)
 *   where the master is, at start, every {@linkcode SENTINEL_POLL_MS}, and at once (at most every
 *   100 ms) when a command fails on the connection or with `READONLY` (the old master demoted);
 * - it talks to the master over a plain connection, so the master keeps being served while the
 *   sentinels are down, and the sentinels' connections reconnect by themselves when they return;
 * - when the sentinels name another master it connects there, checks `ROLE` says `master`, then
 *   switches (pub/sub subscriptions are made again on the new master). Scripts are loaded there on
 *   first use (the `NOSCRIPT` path of `script.ts`).
 *
 * @module
 */
import { ClientOfflineError, createClient } from "redis";
import {
  type CommandOptions,
  reconnectDelay,
  type RedisClient,
  type RedisNode,
  type RedisSubscriber,
  type SendOptions,
} from "./connection.ts";
import { isConnectionError, replyCode } from "./errors.ts";
import { nodeOptions, type NodeSettings } from "./standalone.ts";
import { parseRedisUrl } from "./target.ts";
import { DEADLINE_PASSED, withDeadline } from "../deadline.ts";

/** Settings of a sentinel connection. */
export interface SentinelSettings extends NodeSettings {
  /** The master's name the sentinels monitor. */
  master: string;
  /** The sentinels' own password, if they require one. */
  sentinelPassword?: string | undefined;
}

/** How often the sentinels are asked where the master is, in ms. */
export const SENTINEL_POLL_MS = 250;

/** Shortest time between two questions to the sentinels triggered by failures, in ms. */
const REDISCOVER_INTERVAL_MS = 100;

type NodeRedisClient = ReturnType<typeof createClient>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);

/** A master behind Redis Sentinel, followed through failovers. */
export class SentinelClient implements RedisClient {
  readonly mode = "sentinel" as const;
  readonly #settings: SentinelSettings;
  readonly #urls: string[];
  readonly #sentinels: NodeRedisClient[];
  readonly #data: ReturnType<typeof parseRedisUrl>;
  readonly #errorListeners = new Set<(error: Error) => void>();
  readonly #readyListeners = new Set<() => void>();
  /** Channels subscribed on the master (a subscriber connection only). */
  readonly #subscriptions: [string, (message: string) => void][] = [];
  #master: NodeRedisClient | undefined;
  #address: string | undefined;
  #closed = false;
  #poll: ReturnType<typeof setInterval> | undefined;
  #discovering: Promise<void> | undefined;
  #lastDiscovery = 0;

  /** A master found through the sentinels at `urls`; not connected yet. */
  constructor(urls: string[], settings: SentinelSettings) {
    if (urls.length === 0) throw new TypeError("Cannot connect to Sentinel without sentinels");
    this.#settings = settings;
    this.#urls = urls;
    this.#data = parseRedisUrl(urls[0]!);
    // Each sentinel reports its own errors, once per change: sentinels down together would
    // otherwise alternate their messages at every reconnect attempt.
    const lastErrors = new Map<number, string>();
    this.#sentinels = urls.map((url, index) => {
      const s = parseRedisUrl(url);
      const client = createClient({
        name: `${settings.name}-sentinel`,
        disableOfflineQueue: true,
        ...(settings.sentinelPassword === undefined ? {} : { password: settings.sentinelPassword }),
        socket: {
          host: s.host,
          port: s.port,
          connectTimeout: settings.connectTimeoutMs,
          reconnectStrategy: reconnectDelay,
          ...(s.tls ? { tls: true as const } : {}),
        },
      });
      client.on("error", (error: Error) => {
        if (lastErrors.get(index) === error.message) return;
        lastErrors.set(index, error.message);
        this.#emitError(new Error(`sentinel ${s.host}:${s.port}: ${error.message}`));
      });
      client.on("ready", () => lastErrors.delete(index));
      return client;
    });
  }

  #emitError(error: Error): void {
    for (const listener of this.#errorListeners) listener(error);
  }

  get isReady(): boolean {
    return !this.#closed && this.#master?.isReady === true;
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  /** `host:port` of the master in use, if any. */
  get address(): string | undefined {
    return this.#address;
  }

  async sendCommand<T>(args: string[], options?: SendOptions): Promise<T> {
    const master = this.#master;
    if (master === undefined || this.#closed) throw new ClientOfflineError();
    try {
      return await master.sendCommand<T>(args, nodeOptions(options));
    } catch (error) {
      // The master died or was demoted: ask the sentinels now rather than at the next poll.
      if (isConnectionError(error) || replyCode(error) === "READONLY") this.#rediscover();
      throw error;
    }
  }

  masters(): RedisNode[] {
    return [{
      address: this.#address ?? "",
      sendCommand: <T>(args: string[], options?: CommandOptions) =>
        this.sendCommand<T>(args, options),
    }];
  }

  nodeOf(_key: string): string {
    return "";
  }

  subscriber(name: string): RedisSubscriber {
    const client = new SentinelClient(this.#urls, { ...this.#settings, name });
    return {
      get isOpen() {
        return client.isOpen;
      },
      connect: () => client.connect(),
      subscribe: (channel, listener) => client.subscribe(channel, listener),
      on(event: "error" | "ready", listener: (error: Error) => void) {
        client.on(event, listener);
        return this;
      },
      close: () => client.close(),
      destroy: () => client.destroy(),
    };
  }

  /** Subscribes on the master (this connection then serves pub/sub only); kept across failovers. */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    this.#subscriptions.push([channel, listener]);
    if (this.#master === undefined) throw new ClientOfflineError();
    await this.#master.subscribe(channel, listener);
  }

  /** Listens to connection errors or (re)connections. */
  on(event: "error" | "ready", listener: (error: Error) => void): this {
    if (event === "error") this.#errorListeners.add(listener);
    else this.#readyListeners.add(listener as () => void);
    return this;
  }

  /** Connects to the sentinels and the master; retries with backoff until a master answers. */
  async connect(): Promise<void> {
    for (const s of this.#sentinels) {
      if (!s.isOpen) s.connect().catch(() => {/* reported through "error"; retried */});
    }
    this.#poll ??= setInterval(() => this.#rediscover(true), SENTINEL_POLL_MS);
    for (let retries = 0; !this.#closed; retries++) {
      await this.#rediscover(true);
      if (this.#master?.isReady) return;
      await sleep(reconnectDelay(retries));
    }
    throw new ClientOfflineError();
  }

  /** Asks the sentinels where the master is and switches to it if it moved. Never rejects. */
  #rediscover(scheduled = false): Promise<void> {
    if (this.#discovering !== undefined) return this.#discovering;
    if (!scheduled && Date.now() - this.#lastDiscovery < REDISCOVER_INTERVAL_MS) {
      return Promise.resolve();
    }
    this.#lastDiscovery = Date.now();
    this.#discovering = this.#discover()
      .catch((error) => this.#emitError(new Error(`Sentinel discovery: ${messageOf(error)}`)))
      .finally(() => this.#discovering = undefined);
    return this.#discovering;
  }

  async #discover(): Promise<void> {
    if (this.#closed) return;
    const address = await this.#askSentinels();
    // No sentinel answered: keep the master in use, it may well be up.
    if (address === undefined) return;
    if (address === this.#address && this.#master !== undefined) return;
    await this.#switchTo(address);
  }

  /** The master's `host:port` from the first sentinel that answers, or `undefined`. */
  async #askSentinels(): Promise<string | undefined> {
    for (const sentinel of this.#sentinels) {
      if (!sentinel.isReady) continue;
      try {
        const reply = await withDeadline(
          sentinel.sendCommand<[string, string] | null>([
            "SENTINEL",
            "GET-MASTER-ADDR-BY-NAME",
            this.#settings.master,
          ]),
          this.#settings.connectTimeoutMs,
        );
        if (reply === DEADLINE_PASSED) continue;
        if (reply === null) {
          throw new Error(`the sentinels monitor no master named "${this.#settings.master}"`);
        }
        const [host, port] = reply;
        return `${host.includes(":") ? `[${host}]` : host}:${port}`;
      } catch (error) {
        if (!isConnectionError(error)) throw error;
      }
    }
    return undefined;
  }

  /** Connects to `address`, checks it is a master, then makes it the one in use. */
  async #switchTo(address: string): Promise<void> {
    const [host, port] = splitAddress(address);
    const client = createClient({
      name: this.#settings.name,
      disableOfflineQueue: true,
      ...(this.#data.username === undefined ? {} : { username: this.#data.username }),
      ...(this.#data.password === undefined ? {} : { password: this.#data.password }),
      ...(this.#data.database === 0 ? {} : { database: this.#data.database }),
      socket: {
        host,
        port,
        connectTimeout: this.#settings.connectTimeoutMs,
        reconnectStrategy: reconnectDelay,
        ...(this.#data.tls ? { tls: true as const } : {}),
      },
    });
    client.on("error", (error: Error) => this.#emitError(error));
    try {
      const ready = await withDeadline(
        client.connect().then(() => client.sendCommand<[string, ...unknown[]]>(["ROLE"])),
        this.#settings.connectTimeoutMs,
      );
      if (ready === DEADLINE_PASSED) throw new Error(`${address} did not answer`);
      if (ready[0] !== "master") throw new Error(`${address} is not a master yet`);
      for (const [channel, listener] of this.#subscriptions) {
        await client.subscribe(channel, listener);
      }
    } catch (error) {
      client.destroy();
      throw error;
    }
    if (this.#closed) {
      client.destroy();
      return;
    }
    const old = this.#master;
    this.#master = client;
    this.#address = address;
    client.on("ready", () => {
      for (const listener of this.#readyListeners) listener();
    });
    for (const listener of this.#readyListeners) listener();
    // Replies still due on the old master may arrive (or fail): close it gently.
    if (old !== undefined) {
      withDeadline(old.close(), 1000).catch(() => {}).finally(() => {
        if (old.isOpen) old.destroy();
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    const all = [...this.#sentinels, ...(this.#master === undefined ? [] : [this.#master])];
    await Promise.all(all.map(async (client) => {
      try {
        if (!client.isOpen) return;
        if (await withDeadline(client.close(), 1000) === DEADLINE_PASSED) client.destroy();
      } catch {
        if (client.isOpen) client.destroy();
      }
    }));
  }

  destroy(): void {
    this.#closed = true;
    clearInterval(this.#poll);
    for (const client of [...this.#sentinels, this.#master]) {
      if (client?.isOpen) client.destroy();
    }
  }
}

/** `host` and `port` of `host:port` or `[v6]:port`. */
function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(":");
  return [address.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), Number(address.slice(colon + 1))];
}
