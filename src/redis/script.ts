/**
 * The one runner of Lua scripts for every Redis caller (counter store, registry, overrides,
 * active counters): a script is called by SHA with EVALSHA, loaded on first use and reloaded after
 * `NOSCRIPT` (a Redis restart or `SCRIPT FLUSH`), then retried once.
 *
 * Two ways to call it: {@linkcode RedisScript.run} for management calls (a deadline of its own,
 * errors as in {@linkcode redisCall}), {@linkcode RedisScript.send} for the counter store's hot
 * path (no timer nor wrapper of its own: the store's caller races it against the shared deadline
 * and the store classifies its failures with `storeUnavailable`).
 *
 * @module
 */
import type { RedisClient } from "./client.ts";
import { REDIS_CALL_TIMEOUT_MS, type RedisReply, settleCall } from "./call.ts";
import { isNoScript } from "./errors.ts";

/** Options of one command as node-redis's `sendCommand` takes them. */
type CommandOptions = Parameters<RedisClient["sendCommand"]>[1];

/** A Lua script called by SHA, loaded on first use and reloaded after NOSCRIPT. */
export class RedisScript {
  /** The Lua source. */
  readonly source: string;
  #sha: string | undefined;

  constructor(source: string) {
    this.source = source;
  }

  /**
   * Loads the script into Redis (`SCRIPT LOAD`) and remembers its SHA. Optional: the first call
   * loads it otherwise. Rejects with node-redis's error as it is.
   */
  async load(client: RedisClient, options?: CommandOptions): Promise<string> {
    const sha = await client.sendCommand<string>(["SCRIPT", "LOAD", this.source], options);
    this.#sha = sha;
    return sha;
  }

  /**
   * Runs the script with no deadline of its own, loading it first if needed and once more after
   * `NOSCRIPT`. Rejects with node-redis's error as it is: the caller owns deadline and
   * classification (the counter store's hot path).
   */
  async send<T extends RedisReply>(
    client: RedisClient,
    keys: string[],
    args: string[],
    options?: CommandOptions,
  ): Promise<T> {
    try {
      return await client.sendCommand<T>(
        [
          "EVALSHA",
          this.#sha ?? await this.load(client, options),
          String(keys.length),
          ...keys,
          ...args,
        ],
        options,
      );
    } catch (error) {
      if (!isNoScript(error)) throw error;
      // Redis restarted or its scripts were flushed: load again and retry once.
      const sha = await this.load(client, options);
      return await client.sendCommand<T>(
        ["EVALSHA", sha, String(keys.length), ...keys, ...args],
        options,
      );
    }
  }

  /**
   * Runs the script within `timeoutMs` (loading included); errors as in {@linkcode redisCall}:
   * {@linkcode StoreUnavailableError} when Redis cannot serve now, any other error reply as it is.
   */
  run<T extends RedisReply>(
    client: RedisClient,
    keys: string[],
    args: string[],
    timeoutMs: number = REDIS_CALL_TIMEOUT_MS,
  ): Promise<T> {
    return settleCall(() => this.send<T>(client, keys, args, { timeout: timeoutMs }), timeoutMs);
  }
}
