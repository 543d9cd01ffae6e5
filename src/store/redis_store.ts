import type { WallClock } from "../clock.ts";
import type { StoreUnavailableError } from "../errors.ts";
import {
  CHECK_ARGS_PER_LIMIT,
  CHECK_BATCH_READ_ONLY_SCRIPT,
  CHECK_BATCH_SCRIPT,
  CHECK_READ_ONLY_SCRIPT,
  CHECK_SCRIPT,
  PEEK_SCRIPT,
} from "../limiter/scripts.ts";
import {
  ALGORITHM_CODES,
  algorithmParam,
  ALGORITHMS,
  type CheckOutcome,
  type Decision,
  type LimitRequest,
} from "../limiter/types.ts";
import type { RedisReply } from "../redis/call.ts";
import type { RedisClient, RedisNode } from "../redis/connection.ts";
import { slotPartition } from "../redis/slot.ts";
import { encodeScanCursor, parseScanCursor } from "./scan_cursor.ts";
import { isConnectionError, storeUnavailable } from "../redis/errors.ts";
import { RedisScript } from "../redis/script.ts";
import { COALESCE_MAX_WEIGHT, Coalescer } from "./coalescer.ts";
import {
  counterKey,
  counterScanPattern,
  DEFAULT_KEY_PREFIX,
  escapeGlob,
  type KeyLayout,
  parseCounterKey,
  parseReferenceCounterKey,
  REFERENCE_MAX_COST,
  referenceCounterKey,
  referenceScanPattern,
  referenceSeqKey,
} from "./keys.ts";
import {
  type CounterInfo,
  type CounterPage,
  type ListCountersOptions,
  PAGE_WORK_FACTOR,
  type Store,
  type StoreStatus,
} from "./types.ts";

/** Options for {@linkcode RedisStore}. */
export interface RedisStoreOptions {
  /** A connected client; the store never closes it. */
  client: RedisClient;
  /** Prefix of every key. @default {DEFAULT_KEY_PREFIX} */
  prefix?: string;
  /**
   * Clock passed into the scripts. Leave unset in production: the scripts then read Redis `TIME`,
   * so nodes with skewed clocks agree. Tests set it to drive time by hand.
   */
  clock?: WallClock;
  /**
   * Keys SCAN may visit per counters page, as a multiple of the page size.
   * @default {PAGE_WORK_FACTOR}
   */
  scanBudgetFactor?: number;
  /**
   * Where sliding_log counters live: `"default"` (the schema of `src/store/keys.ts`) or
   * `"reference"` (the original service's sorted set at `ratelimit:<key>`, one member per unit,
   * so a sliding_log cost above {@linkcode REFERENCE_MAX_COST} is refused with a `RangeError`).
   * Other algorithms always use the default layout.
   * @default {"default"}
   */
  keyLayout?: KeyLayout;
  /**
   * Reference layout only: the limit and window a counters page reports for a reference counter,
   * which records none (the API then applies the key's override, as for any counter).
   * @default {{ limit: 100, windowMs: 60_000 }}
   */
  referenceDefaults?: { limit: number; windowMs: number };
  /**
   * Whether checks that arrive in the same event-loop turn go to Redis as one batch script run
   * ({@linkcode CHECK_BATCH_SCRIPT}) instead of one EVALSHA each: the same decisions in the same
   * order, for less Redis CPU per check. A turn with one check sends it alone, as without.
   * @default {true}
   */
  coalesce?: boolean;
}

/** One check on its way to Redis: its keys, its script arguments, and whether it only reads. */
interface CheckCall {
  keys: string[];
  /** `now` first, then the arguments of each limit (see {@linkcode CHECK_SCRIPT}). */
  args: string[];
  readOnly: boolean;
}

/** Script code of sliding_log in the reference layout (see `src/limiter/scripts.ts`). */
const REFERENCE_CODE = "rs";

/** Most peeks of a counters page sent to Redis at once. */
export const PEEK_CHUNK = 100;

function toDecisions(reply: RedisReply[], offset: number, count: number): Decision[] {
  const decisions: Decision[] = [];
  for (let i = 0; i < count; i++) {
    const o = offset + i * 5;
    decisions.push({
      allowed: reply[o] === 1,
      count: Number(reply[o + 1]),
      remaining: Number(reply[o + 2]),
      retryAfterMs: Number(reply[o + 3]),
      resetAfterMs: Number(reply[o + 4]),
    });
  }
  return decisions;
}

/**
 * The shared store: every decision is one Lua script run atomically in Redis, so a limit holds
 * exactly across any number of nodes. Unless `coalesce` is off, the checks of one event-loop turn
 * share one script run ({@linkcode CHECK_BATCH_SCRIPT}, through a {@linkcode Coalescer}), each
 * still decided on its own and in arrival order. Scripts run through {@linkcode RedisScript} (by SHA,
 * reloaded on NOSCRIPT after a Redis restart or `SCRIPT FLUSH`). Calls carry no deadline of their
 * own (the `BreakerStore` around it races them against its shared timer); every
 * failure becomes a {@linkcode StoreUnavailableError} whose `kind` (`reply` or `connection`)
 * is set here, by `src/redis/errors.ts`.
 */
export class RedisStore implements Store {
  readonly kind = "redis" as const;
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #clock: WallClock | undefined;
  readonly #scanBudgetFactor: number;
  readonly #reference: boolean;
  readonly #referenceDefaults: { limit: number; windowMs: number };
  readonly #check = new RedisScript(CHECK_SCRIPT);
  readonly #checkReadOnly = new RedisScript(CHECK_READ_ONLY_SCRIPT);
  readonly #checkBatch = new RedisScript(CHECK_BATCH_SCRIPT);
  readonly #checkBatchReadOnly = new RedisScript(CHECK_BATCH_READ_ONLY_SCRIPT);
  readonly #peek = new RedisScript(PEEK_SCRIPT);
  readonly #coalescer: Coalescer<CheckCall, RedisReply[]> | undefined;
  #status: StoreStatus = "up";

  constructor(options: RedisStoreOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
    this.#clock = options.clock;
    this.#scanBudgetFactor = options.scanBudgetFactor ?? PAGE_WORK_FACTOR;
    this.#reference = (options.keyLayout ?? "default") === "reference";
    this.#referenceDefaults = options.referenceDefaults ?? { limit: 100, windowMs: 60_000 };
    // Checks of different lanes never share a script run: on a cluster a script may only touch
    // the keys of one slot (every key of one check shares its slot), so a lane is a slot there.
    const lane = this.#client.mode === "cluster"
      ? (call: CheckCall) => slotPartition(call.keys[0]!)
      : undefined;
    this.#coalescer = (options.coalesce ?? true)
      ? new Coalescer<CheckCall, RedisReply[]>({
        send: (calls) => this.#sendCalls(calls),
        ...(lane === undefined ? {} : { lane }),
        kind: (call) => `${call.readOnly ? "r" : "w"}${call.args[0]}`,
        weight: (call) => call.keys.length,
        maxWeight: COALESCE_MAX_WEIGHT,
      })
      : undefined;
  }

  /**
   * Script calls started and checks they carried since this store was made, when coalescing
   * (`undefined` otherwise): checks ÷ calls is how many checks one script run decided on average.
   */
  get coalesced(): { calls: number; checks: number } | undefined {
    if (this.#coalescer === undefined) return undefined;
    const { calls, items } = this.#coalescer.stats;
    return { calls, checks: items };
  }

  /** Whether `algorithm`'s counters are in the reference layout. */
  #isReference(algorithm: LimitRequest["algorithm"]): boolean {
    return this.#reference && algorithm === "sliding_log";
  }

  /**
   * Loads the scripts into Redis (every master of a cluster). Optional: the first call loads them
   * otherwise.
   */
  async init(): Promise<void> {
    await Promise.all([
      this.#check.loadEverywhere(this.#client),
      this.#checkReadOnly.loadEverywhere(this.#client),
      this.#checkBatch.loadEverywhere(this.#client),
      this.#checkBatchReadOnly.loadEverywhere(this.#client),
      this.#peek.loadEverywhere(this.#client),
    ]);
  }

  #now(): string {
    return this.#clock === undefined ? "" : String(Math.round(this.#clock() * 1000));
  }

  /**
   * The error a failed call throws; a connection failure marks the store down, unless other
   * masters of a cluster still answer: the failure is then `partial` (one master's keys only).
   */
  #failed(error: unknown): StoreUnavailableError {
    const partial = this.#client.mode === "cluster" && this.#client.isReady;
    if (isConnectionError(error) && !partial) this.#status = "down";
    return storeUnavailable(error, partial);
  }

  #checkArgs(requests: LimitRequest[]): { keys: string[]; args: string[] } {
    const keys: string[] = [];
    const args: string[] = [this.#now()];
    for (const r of requests) {
      const reference = this.#isReference(r.algorithm);
      if (reference && r.cost > REFERENCE_MAX_COST) {
        throw new RangeError(
          `Cannot check a sliding_log cost above ${REFERENCE_MAX_COST} in the reference key ` +
            `layout, received ${r.cost}`,
        );
      }
      keys.push(
        reference ? referenceCounterKey(r.key) : counterKey(this.#prefix, r.algorithm, r.key),
      );
      args.push(
        reference ? REFERENCE_CODE : ALGORITHM_CODES[r.algorithm],
        String(r.limit),
        String(r.windowMs),
        String(r.cost),
        String(algorithmParam(r)),
      );
    }
    if (args.length !== 1 + requests.length * CHECK_ARGS_PER_LIMIT) {
      throw new Error("Script arguments out of step with CHECK_ARGS_PER_LIMIT");
    }
    return { keys, args };
  }

  async check(requests: LimitRequest[]): Promise<CheckOutcome> {
    const { keys, args } = this.#checkArgs(requests);
    // A check that consumes nothing runs a read-only script: Redis then guarantees it writes
    // nothing, and answers it even when out of memory.
    const call: CheckCall = { keys, args, readOnly: requests.every((r) => r.cost === 0) };
    let reply: RedisReply[];
    try {
      reply = this.#coalescer === undefined
        ? await this.#sendOne(call)
        : await this.#coalescer.add(call);
    } catch (error) {
      throw this.#failed(error);
    }
    this.#status = "up";
    const decisions = toDecisions(reply, 2, requests.length);
    return { allowed: reply[0] === 1, deniedIndex: Number(reply[1]) - 1, decisions };
  }

  /** Runs one check as one script run. */
  #sendOne(call: CheckCall): Promise<RedisReply[]> {
    const script = call.readOnly ? this.#checkReadOnly : this.#check;
    return script.send<RedisReply[]>(this.#client, call.keys, call.args);
  }

  /**
   * Runs the checks of one lane in one script run: alone as {@linkcode CHECK_SCRIPT} when there is
   * one, else {@linkcode CHECK_BATCH_SCRIPT}, whose error reply for one check fails that check
   * only (node-redis hands an error nested in a reply over as an `ErrorReply` value).
   */
  async #sendCalls(calls: CheckCall[]): Promise<(RedisReply[] | Error)[]> {
    if (calls.length === 1) return [await this.#sendOne(calls[0]!)];
    const keys: string[] = [];
    const args: string[] = [calls[0]!.args[0]!];
    for (const call of calls) {
      keys.push(...call.keys);
      args.push(String(call.keys.length));
      for (let i = 1; i < call.args.length; i++) args.push(call.args[i]!);
    }
    const script = calls[0]!.readOnly ? this.#checkBatchReadOnly : this.#checkBatch;
    return await script.send<RedisReply[]>(this.#client, keys, args) as (RedisReply[] | Error)[];
  }

  checkMany(groups: LimitRequest[][]): Promise<CheckOutcome[]> {
    // Coalesced into one script run (or pipelined as one EVALSHA each when not coalescing: node-redis
    // writes the commands issued in one tick together), one round trip either way.
    return Promise.all(groups.map((group) => this.check(group)));
  }

  async reset(key: string): Promise<boolean> {
    // All algorithms' keys of one client key share a slot, so one DEL is valid on a cluster.
    const keys = ALGORITHMS.map((a) => counterKey(this.#prefix, a, key));
    // The reference layout's keys have no hash tag: like the layout, never on a cluster.
    if (this.#reference) keys.push(referenceCounterKey(key), referenceSeqKey(key));
    try {
      const removed = await this.#client.sendCommand<number>(["DEL", ...keys]);
      this.#status = "up";
      return removed > 0;
    } catch (error) {
      throw this.#failed(error);
    }
  }

  #matchPattern(prefix: string | undefined): string | undefined {
    // Two namespaces share one SCAN cursor only without MATCH: keys are then filtered here.
    if (this.#reference) return undefined;
    if (prefix === undefined || prefix === "" || prefix.startsWith("{")) {
      return counterScanPattern(this.#prefix);
    }
    const encoded = prefix.replace(
      /[%{}]/g,
      (c) => c === "%" ? "%25" : c === "{" ? "%7B" : "%7D",
    );
    return `${escapeGlob(this.#prefix)}:*:{${escapeGlob(encoded)}*`;
  }

  /**
   * Lists counters with SCAN (never KEYS), on a cluster through every master in address order. A
   * page visits at most `limit × scanBudgetFactor` keys, so it may hold fewer than `limit`
   * counters while `nextCursor` is still set. The cursor (`scan_cursor.ts`) names the master and
   * is `<scan cursor>-<matches to skip>` there, so a page never drops the tail of a SCAN batch.
   */
  async listCounters(options: ListCountersOptions): Promise<CounterPage> {
    const pattern = this.#matchPattern(options.prefix);
    const clustered = this.#client.mode === "cluster";
    const start = parseScanCursor(options.cursor, clustered);
    const masters = this.#client.masters();
    // The master the page starts on: the cursor's, or the next one in address order.
    let nodeIndex = start.node === undefined
      ? 0
      : masters.findIndex((m) => m.address >= start.node!);
    let scanCursor = start.scan;
    let skip = start.skip;
    if (nodeIndex >= 0 && start.node !== undefined && masters[nodeIndex]!.address !== start.node) {
      scanCursor = "0";
      skip = 0;
    }
    const found: {
      redisKey: string;
      algorithm: CounterInfo["algorithm"];
      key: string;
      reference: boolean;
    }[] = [];
    let budget = options.limit * this.#scanBudgetFactor;
    let nextCursor: string | undefined;
    const cursorAt = (node: RedisNode, scan: string, taken: number) =>
      encodeScanCursor({ node: clustered ? node.address : undefined, scan, skip: taken });
    try {
      while (nodeIndex >= 0 && nodeIndex < masters.length) {
        const node = masters[nodeIndex]!;
        const count = Math.max(10, Math.min(1000, options.limit - found.length));
        const [next, keys] = await node.sendCommand<[string, string[]]>([
          "SCAN",
          scanCursor,
          ...(pattern === undefined ? [] : ["MATCH", pattern]),
          "COUNT",
          String(count),
        ]);
        budget -= count;
        let taken = 0;
        let batchFull = false;
        for (let i = skip; i < keys.length; i++) {
          if (found.length >= options.limit) {
            batchFull = true;
            break;
          }
          taken = i + 1;
          const parsed = this.#parseKey(keys[i]!);
          if (parsed === undefined) continue;
          if (options.prefix !== undefined && !parsed.key.startsWith(options.prefix)) continue;
          found.push({ redisKey: keys[i]!, ...parsed });
        }
        if (batchFull) {
          nextCursor = cursorAt(node, scanCursor, taken);
          break;
        }
        skip = 0;
        scanCursor = next;
        let at = node;
        if (next === "0") {
          // This master is done: on to the next one, if any.
          nodeIndex++;
          const following = masters[nodeIndex];
          if (following === undefined) break;
          at = following;
        }
        if (found.length >= options.limit || budget <= 0) {
          nextCursor = cursorAt(at, scanCursor, 0);
          break;
        }
      }
      const now = this.#now();
      // Peeks go out in chunks, each sent once the previous one is answered: a page of 1,000 never
      // puts 1,000 scripts in front of the checks sharing the connection, nor 1,000 replies in
      // front of their replies.
      const replies: RedisReply[][] = [];
      for (let i = 0; i < found.length; i += PEEK_CHUNK) {
        replies.push(
          ...await Promise.all(
            found.slice(i, i + PEEK_CHUNK).map((f) =>
              this.#peek.send<RedisReply[]>(
                this.#client,
                [f.redisKey],
                f.reference
                  ? [
                    now,
                    REFERENCE_CODE,
                    String(this.#referenceDefaults.limit),
                    String(this.#referenceDefaults.windowMs),
                  ]
                  : [now, ALGORITHM_CODES[f.algorithm]],
              )
            ),
          ),
        );
      }
      const counters: CounterInfo[] = [];
      replies.forEach((reply, i) => {
        if (reply.length === 0) return;
        const f = found[i]!;
        counters.push({
          key: f.key,
          algorithm: f.algorithm,
          limit: Number(reply[0]),
          windowMs: Number(reply[1]),
          decision: toDecisions(reply, 3, 1)[0]!,
        });
      });
      this.#status = "up";
      return { counters, nextCursor };
    } catch (error) {
      throw this.#failed(error);
    }
  }

  /** The counter a SCANned key holds, whichever layout it is in; `undefined` for other keys. */
  #parseKey(
    redisKey: string,
  ): { algorithm: CounterInfo["algorithm"]; key: string; reference: boolean } | undefined {
    const parsed = parseCounterKey(this.#prefix, redisKey);
    if (parsed !== undefined) return { ...parsed, reference: false };
    if (!this.#reference) return undefined;
    const key = parseReferenceCounterKey(redisKey);
    return key === undefined ? undefined : { algorithm: "sliding_log", key, reference: true };
  }

  /**
   * Counts counter keys with a full SCAN; O(keys), so call it from background work only. In the
   * reference layout, keys under `ratelimit:` count too, but for the original's `:seq` counters
   * and `ratelimit:limit:` hashes, told apart by name (a client key shaped so is miscounted).
   */
  async countCounters(): Promise<number> {
    let total = await this.#countMatching(counterScanPattern(this.#prefix), () => true);
    if (this.#reference) {
      total += await this.#countMatching(
        referenceScanPattern(),
        (k) => !k.endsWith(":seq") && !k.startsWith("ratelimit:limit:"),
      );
    }
    return total;
  }

  /** Counts the keys matching `pattern` on every master (one after the other). */
  async #countMatching(pattern: string, counts: (key: string) => boolean): Promise<number> {
    let total = 0;
    try {
      for (const node of this.#client.masters()) {
        let cursor = "0";
        do {
          const [next, keys] = await node.sendCommand<[string, string[]]>([
            "SCAN",
            cursor,
            "MATCH",
            pattern,
            "COUNT",
            "1000",
          ]);
          total += keys.filter(counts).length;
          cursor = next;
        } while (cursor !== "0");
      }
      return total;
    } catch (error) {
      throw storeUnavailable(error);
    }
  }

  /** Resolves when Redis answers PING: on a cluster, when at least one master does. */
  async ping(): Promise<void> {
    try {
      if (this.#client.mode === "cluster") {
        await Promise.any(this.#client.masters().map((m) => m.sendCommand(["PING"])));
      } else {
        await this.#client.sendCommand(["PING"]);
      }
      this.#status = "up";
    } catch (error) {
      this.#status = "down";
      throw storeUnavailable(error);
    }
  }

  status(): StoreStatus {
    return this.#client.isReady ? this.#status : "down";
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
