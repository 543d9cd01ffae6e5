/**
 * Node figures on Redis: one hash, `<prefix>:node_stats`, field = node id, value = the figures'
 * JSON. Each node writes its own field once a second under a short deadline (a slow Redis costs
 * a skipped publication, never a pile of them) and refreshes the hash's expiry, so the hash goes
 * away a while after the last node stops. A node removes its field when it stops; the field of a
 * node that died stays until the hash expires, and `/api/cluster` shows only the nodes the
 * registry lists.
 *
 * @module
 */
import { type NodeFigures, NodeStats, type NodeStatsOptions, parseFigures } from "./node_stats.ts";
import { redisCall } from "../redis/call.ts";
import type { RedisClient } from "../redis/connection.ts";
import { nodeStatsKey } from "../store/keys.ts";

/** Options for {@linkcode RedisNodeStats}. */
export interface RedisNodeStatsOptions extends NodeStatsOptions {
  client: RedisClient;
  /** Prefix of every key. */
  prefix: string;
  /** Lifetime of the hash after its last write, in ms. @default {300000} */
  keepMs?: number;
  /** Deadline of one publication, in ms. @default {500} */
  timeoutMs?: number;
}

/** Publishes this node's figures in `<prefix>:node_stats` and reads everyone's. */
export class RedisNodeStats extends NodeStats {
  readonly #client: RedisClient;
  readonly #key: string;
  readonly #keepMs: number;
  readonly #timeoutMs: number;

  constructor(options: RedisNodeStatsOptions) {
    super(options);
    this.#client = options.client;
    this.#key = nodeStatsKey(options.prefix);
    this.#keepMs = options.keepMs ?? 300_000;
    this.#timeoutMs = options.timeoutMs ?? 500;
  }

  protected async publish(figures: NodeFigures): Promise<void> {
    await redisCall(
      this.#client,
      ["HSET", this.#key, this.id, JSON.stringify(figures)],
      this.#timeoutMs,
    );
    await redisCall(this.#client, ["PEXPIRE", this.#key, String(this.#keepMs)], this.#timeoutMs);
  }

  protected async remove(): Promise<void> {
    await redisCall(this.#client, ["HDEL", this.#key, this.id], this.#timeoutMs);
  }

  async read(): Promise<Map<string, NodeFigures>> {
    const flat = await redisCall<string[]>(this.#client, ["HGETALL", this.#key]);
    const all = new Map<string, NodeFigures>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const figures = parseFigures(flat[i + 1]!);
      if (figures !== undefined) all.set(flat[i]!, figures);
    }
    return all;
  }
}
