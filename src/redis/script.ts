/**
 * The one runner of Lua scripts for every Redis caller (counter store, registry, overrides,
 * active counters): a script is called by SHA with EVALSHA, loaded on first use and reloaded after
 * `NOSCRIPT` (a Redis restart or `SCRIPT FLUSH`), then retried once.
 *
 * On a Redis Cluster each master has its own script cache (nor does a replica promoted by a
 * failover, or a master receiving a slot, necessarily hold the script): the call goes to the
 * master owning the first key, and so does the `SCRIPT LOAD` after its `NOSCRIPT`. The SHA is
 * the same everywhere (SHA-1 of the source), so one is remembered for all nodes.
 *
 * Two ways to call it: {@linkcode RedisScript.run} for management calls (a deadline of its own,
 * errors as in {@linkcode redisCall}), {@linkcode RedisScript.send} for the counter store's hot
 * path (no timer nor wrapper of its own: the store's caller races it against the shared deadline
 * and the store classifies its failures with `storeUnavailable`).
 *
 * @module
 */
import type { CommandOptions, RedisClient, RedisNode } from "./connection.ts";
import { REDIS_CALL_TIMEOUT_MS, type RedisReply, settleCall } from "./call.ts";
import { isNoScript } from "./errors.ts";

/** A Lua script called by SHA, loaded on first use and reloaded after NOSCRIPT. */
export class RedisScript {
  /** The Lua source. */
  readonly source: string;
  #sha: string | undefined;

  constructor(source: string) {
    this.source = source;
  }

  /**
   * Loads the script (`SCRIPT LOAD`) on the node owning `key` (any node without one) and
   * remembers its SHA. Optional: the first call loads it otherwise. Rejects with node-redis's
   * error as it is.
   */
  async load(
    client: RedisClient | RedisNode,
    options?: CommandOptions,
    key?: string,
  ): Promise<string> {
    const sha = await client.sendCommand<string>(
      ["SCRIPT", "LOAD", this.source],
      key === undefined ? options : { ...options, key },
    );
    this.#sha = sha;
    return sha;
  }

  /** Loads the script on every master (each has its own script cache). */
  async loadEverywhere(client: RedisClient): Promise<void> {
    await Promise.all(client.masters().map((node) => this.load(node)));
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
    const key = keys[0];
    try {
      return await client.sendCommand<T>(
        [
          "EVALSHA",
          this.#sha ?? await this.load(client, options, key),
          String(keys.length),
          ...keys,
          ...args,
        ],
        options,
      );
    } catch (error) {
      if (!isNoScript(error)) throw error;
      // Redis restarted, its scripts were flushed, or (cluster) the key's slot is now served by a
      // node that never loaded it: load it there and retry once.
      const sha = await this.load(client, options, key);
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
