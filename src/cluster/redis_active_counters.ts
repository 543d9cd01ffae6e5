/**
 * The active-counter count on Redis, shared by the cluster.
 *
 * On Redis a count is a SCAN over every counter key, O(keys). Rather than each node scanning
 * everything every few seconds, one node at a time (the holder of a short lock,
 * `<prefix>:active_counters:lock`) scans incrementally — a bounded number of SCAN steps per tick — and publishes the total of each
 * finished pass in `<prefix>:active_counters`; every node reads that key into its gauge. Redis work
 * is therefore bounded per second whatever the number of keys, and a pass over N keys takes about
 * N / (scanCount × scansPerTick) ticks. If the holder dies, its lock expires and another node
 * takes over from the start.
 *
 * @module
 */
import { ActiveCounters, type ActiveCountersOptions } from "./active_counters.ts";
import { REDIS_CALL_TIMEOUT_MS, redisCall, settleCall } from "../redis/call.ts";
import { RedisScript } from "../redis/script.ts";
import type { RedisClient } from "../redis/connection.ts";
import { activeCountersKey, activeCountersLockKey, counterScanPattern } from "../store/keys.ts";

/**
 * Takes or extends the counting lock and reads the last published count.
 *
 * KEYS[1]: lock key. KEYS[2]: published count key.
 * ARGV[1]: this node's instance id. ARGV[2]: lock lifetime in ms.
 * Returns: {held (0|1), published JSON or ""}.
 */
export const COUNT_LOCK_SCRIPT = `#!lua
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  holder = ARGV[1]
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return { holder == ARGV[1] and 1 or 0, redis.call('GET', KEYS[2]) or '' }
`;

/** Options for {@linkcode RedisActiveCounters}. */
export interface RedisActiveCountersOptions extends ActiveCountersOptions {
  client: RedisClient;
  /** Prefix of every key. */
  prefix: string;
  /**
   * Prefix of the lock and the published count (`internalKeyPrefix`: hash-tagged on a cluster).
   * @default {prefix}
   */
  internalPrefix?: string;
  /** Random id of this process (the lock's value). */
  instance: string;
  /** Milliseconds between ticks. @default {1000} */
  intervalMs?: number;
  /** COUNT hint of each SCAN step. @default {1000} */
  scanCount?: number;
  /** Most SCAN steps per tick. @default {10} */
  scansPerTick?: number;
}

/** One node at a time scans the counter keys and publishes the total; every node reads it. */
export class RedisActiveCounters extends ActiveCounters {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #internalPrefix: string;
  readonly #instance: string;
  readonly #scanCount: number;
  readonly #scansPerTick: number;
  readonly #lock = new RedisScript(COUNT_LOCK_SCRIPT);
  #cursor = "0";
  /** The master the pass stands on (an index into the masters in address order). */
  #node = 0;
  #partial = 0;

  constructor(options: RedisActiveCountersOptions) {
    super(options, 1000);
    this.#client = options.client;
    this.#prefix = options.prefix;
    this.#internalPrefix = options.internalPrefix ?? options.prefix;
    this.#instance = options.instance;
    this.#scanCount = options.scanCount ?? 1000;
    this.#scansPerTick = options.scansPerTick ?? 10;
  }

  protected async count(): Promise<number | undefined> {
    const lockKey = activeCountersLockKey(this.#internalPrefix);
    const countKey = activeCountersKey(this.#internalPrefix);
    const lockMs = Math.max(5000, this.intervalMs * 5);
    const [held, published] = await this.#lock.run<[number, string]>(
      this.#client,
      [lockKey, countKey],
      [this.#instance, String(lockMs)],
    );
    if (held !== 1) {
      // Another node counts; forget any pass this one had started before losing the lock.
      this.#cursor = "0";
      this.#node = 0;
      this.#partial = 0;
      return parsePublished(published);
    }
    const pattern = counterScanPattern(this.#prefix);
    // On a cluster the pass goes through every master, one after the other.
    const masters = this.#client.masters();
    for (let step = 0; step < this.#scansPerTick; step++) {
      const node = masters[this.#node];
      let next = "0";
      if (node !== undefined) {
        const [cursor, keys] = await settleCall(
          () =>
            node.sendCommand<[string, string[]]>([
              "SCAN",
              this.#cursor,
              "MATCH",
              pattern,
              "COUNT",
              String(this.#scanCount),
            ]),
          REDIS_CALL_TIMEOUT_MS,
        );
        this.#partial += keys.length;
        next = cursor;
      }
      this.#cursor = next;
      if (next === "0" && this.#node + 1 < masters.length) {
        this.#node++;
        continue;
      }
      if (next === "0") {
        const count = this.#partial;
        this.#partial = 0;
        this.#node = 0;
        await redisCall(this.#client, [
          "SET",
          countKey,
          JSON.stringify({ count, at: Date.now(), by: this.#instance }),
          "PX",
          String(Math.max(60_000, lockMs * 12)),
        ]);
        return count;
      }
    }
    // Pass not finished: show the last published total meanwhile.
    return parsePublished(published);
  }
}

function parsePublished(raw: string): number | undefined {
  if (raw === "") return undefined;
  try {
    const count = JSON.parse(raw)?.count;
    return Number.isSafeInteger(count) && count >= 0 ? count : undefined;
  } catch {
    return undefined;
  }
}
