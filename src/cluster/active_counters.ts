/**
 * Keeps `ratelimiter_active_counters` current in the background.
 *
 * On the embedded store the count is the size of a map: cheap, so every node just asks. On Redis a
 * count is a SCAN over every counter key, O(keys). Rather than each node scanning everything every
 * few seconds, one node at a time (the holder of a short lock, `<prefix>:active_counters:lock`)
 * scans incrementally — a bounded number of SCAN steps per tick — and publishes the total of each
 * finished pass in `<prefix>:active_counters`; every node reads that key into its gauge. Redis work
 * is therefore bounded per second whatever the number of keys, and a pass over N keys takes about
 * N / (scanCount × scansPerTick) ticks. If the holder dies, its lock expires and another node
 * takes over from the start.
 *
 * @module
 */
import { type Logger, silentLogger } from "../log.ts";
import { redisCall } from "../redis/call.ts";
import { RedisScript } from "../redis/script.ts";
import type { RedisClient } from "../redis/client.ts";
import { counterScanPattern } from "../store/keys.ts";
import type { Store } from "../store/types.ts";

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

/** Where the shared count lives on Redis. */
export interface SharedCountOptions {
  client: RedisClient;
  /** Prefix of every key. */
  prefix: string;
  /** Random id of this process (the lock's value). */
  instance: string;
}

/** Options for {@linkcode ActiveCounters}. */
export interface ActiveCountersOptions {
  /** The store whose counters are counted (used directly when `redis` is unset). */
  store: Store;
  /** Receives each new count (sets the gauge). */
  set: (count: number) => void;
  /** Count on Redis, shared by the cluster; unset: ask `store.countCounters()` every tick. */
  redis?: SharedCountOptions | undefined;
  /** Milliseconds between ticks. @default {1000 with redis, else 5000} */
  intervalMs?: number;
  /** COUNT hint of each SCAN step. @default {1000} */
  scanCount?: number;
  /** Most SCAN steps per tick. @default {10} */
  scansPerTick?: number;
  /** Logger for failures (debug level: the gauge just keeps its last value). @default {silentLogger} */
  logger?: Logger;
}

/** The background count behind `ratelimiter_active_counters`; ticks never overlap. */
export class ActiveCounters {
  readonly #store: Store;
  readonly #set: (count: number) => void;
  readonly #redis: SharedCountOptions | undefined;
  readonly #intervalMs: number;
  readonly #scanCount: number;
  readonly #scansPerTick: number;
  readonly #logger: Logger;
  readonly #lock = new RedisScript(COUNT_LOCK_SCRIPT);
  #cursor = "0";
  #partial = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ticking: Promise<void> | undefined;
  #running = false;

  constructor(options: ActiveCountersOptions) {
    this.#store = options.store;
    this.#set = options.set;
    this.#redis = options.redis;
    this.#intervalMs = options.intervalMs ?? (options.redis === undefined ? 5000 : 1000);
    this.#scanCount = options.scanCount ?? 1000;
    this.#scansPerTick = options.scansPerTick ?? 10;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Runs a first tick now, then one every interval after the previous one finished. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const loop = () => {
      this.#ticking = this.tick().finally(() => {
        this.#ticking = undefined;
        if (this.#running) this.#timer = setTimeout(loop, this.#intervalMs);
      });
    };
    loop();
  }

  /** Stops ticking and waits for a running tick. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
  }

  /** One step of counting; never throws. */
  async tick(): Promise<void> {
    try {
      if (this.#redis === undefined) {
        this.#set(await this.#store.countCounters());
      } else {
        await this.#sharedTick(this.#redis);
      }
    } catch (error) {
      this.#logger.debug("active_counters_failed", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  async #sharedTick(redis: SharedCountOptions): Promise<void> {
    const lockKey = `${redis.prefix}:active_counters:lock`;
    const countKey = `${redis.prefix}:active_counters`;
    const lockMs = Math.max(5000, this.#intervalMs * 5);
    const [held, published] = await this.#lock.run<[number, string]>(
      redis.client,
      [lockKey, countKey],
      [redis.instance, String(lockMs)],
    );
    if (held !== 1) {
      // Another node counts; forget any pass this one had started before losing the lock.
      this.#cursor = "0";
      this.#partial = 0;
      const count = parsePublished(published);
      if (count !== undefined) this.#set(count);
      return;
    }
    const pattern = counterScanPattern(redis.prefix);
    for (let step = 0; step < this.#scansPerTick; step++) {
      const [next, keys] = await redisCall<[string, string[]]>(redis.client, [
        "SCAN",
        this.#cursor,
        "MATCH",
        pattern,
        "COUNT",
        String(this.#scanCount),
      ]);
      this.#partial += keys.length;
      this.#cursor = next;
      if (next === "0") {
        const count = this.#partial;
        this.#partial = 0;
        await redisCall(redis.client, [
          "SET",
          countKey,
          JSON.stringify({ count, at: Date.now(), by: redis.instance }),
          "PX",
          String(Math.max(60_000, lockMs * 12)),
        ]);
        this.#set(count);
        return;
      }
    }
    // Pass not finished: show the last published total meanwhile.
    const count = parsePublished(published);
    if (count !== undefined) this.#set(count);
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
