/**
 * {@linkcode RedisClient} on one Redis server (`RATELIMITER_REDIS_MODE=standalone`): node-redis's
 * `createClient`, reconnecting by itself with backoff, commands refused while disconnected.
 *
 * @module
 */
import { createClient } from "redis";
import type {
  CommandOptions,
  RedisClient,
  RedisNode,
  RedisSubscriber,
  SendOptions,
} from "./connection.ts";
import { reconnectDelay } from "./connection.ts";
import { parseRedisUrl } from "./target.ts";

/** Connection settings shared by every mode. */
export interface NodeSettings {
  /** Client name shown by `CLIENT LIST`. */
  name: string;
  /** How long one connection attempt may take, in ms. */
  connectTimeoutMs: number;
}

type NodeRedisClient = ReturnType<typeof createClient>;

/** Drops the routing fields node-redis does not know. */
export function nodeOptions(options: SendOptions | undefined): CommandOptions | undefined {
  if (options === undefined || options.key === undefined) return options;
  const { key: _key, ...rest } = options;
  return rest;
}

/** One Redis server. */
export class StandaloneClient implements RedisClient {
  readonly mode = "standalone" as const;
  readonly #client: NodeRedisClient;
  readonly #address: string;

  /** One server at `url`; not connected yet. */
  constructor(url: string, settings: NodeSettings) {
    const address = parseRedisUrl(url);
    this.#address = `${address.host}:${address.port}`;
    this.#client = createClient({
      url,
      name: settings.name,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: settings.connectTimeoutMs,
        reconnectStrategy: reconnectDelay,
      },
    });
  }

  get isReady(): boolean {
    return this.#client.isReady;
  }

  get isOpen(): boolean {
    return this.#client.isOpen;
  }

  sendCommand<T>(args: string[], options?: SendOptions): Promise<T> {
    return this.#client.sendCommand<T>(args, nodeOptions(options));
  }

  masters(): RedisNode[] {
    return [{
      address: this.#address,
      sendCommand: <T>(args: string[], options?: CommandOptions) =>
        this.#client.sendCommand<T>(args, options),
    }];
  }

  nodeOf(_key: string): string {
    return "";
  }

  subscriber(name: string): RedisSubscriber {
    return this.#client.duplicate({ name }) as unknown as RedisSubscriber;
  }

  /** Listens to connection errors or (re)connections. */
  on(event: "error" | "ready", listener: (error: Error) => void): this {
    this.#client.on(event, listener);
    return this;
  }

  async connect(): Promise<void> {
    await this.#client.connect();
  }

  close(): Promise<unknown> {
    return this.#client.close();
  }

  destroy(): void {
    this.#client.destroy();
  }
}
