/**
 * Each node's recent figures (check rates, p99 latency, store status, circuit state), published
 * to the shared store once a second so any node can answer `GET /api/cluster` for the cluster.
 * This is the port with the publishing loop both twins share; each twin says where the figures
 * live: `memory_node_stats.ts` in process (one node), `redis_node_stats.ts` in one Redis hash.
 *
 * @module
 */
import { z } from "zod";
import type { WallClock } from "../clock.ts";
import { type Logger, silentLogger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { CHECK_DURATION_BUCKETS } from "../metrics/metrics.ts";
import { RecentChecks } from "../metrics/recent_checks.ts";
import {
  CIRCUIT_STATE_GAUGE,
  CIRCUIT_STATES,
  type CircuitState,
} from "../store/circuit_breaker.ts";
import type { Store } from "../store/types.ts";
import { Periodic } from "./periodic.ts";

/** zod schema of one node's published figures (the JSON kept in the shared store). */
export const nodeFiguresSchema = z.object({
  allowed_per_second: z.number().min(0),
  blocked_per_second: z.number().min(0),
  p99_check_ms: z.number().min(0).nullable(),
  store: z.object({ kind: z.enum(["memory", "redis"]), status: z.enum(["up", "down"]) }),
  circuit_state: z.enum(CIRCUIT_STATES).nullable(),
  /** When the node computed them, in ms since the epoch (its own clock). */
  at: z.number(),
});

/** One node's published figures. */
export type NodeFigures = z.infer<typeof nodeFiguresSchema>;

/** Options for {@linkcode LocalFigures}. */
export interface LocalFiguresOptions {
  metrics: Pick<Metrics, "checkedAllowed" | "checkedBlocked" | "checkDuration" | "circuitState">;
  /** The node's outermost store: its kind and status. */
  store: Pick<Store, "kind" | "status">;
  /** Length of the window of the rates and p99, in ms. @default {5000} */
  windowMs?: number;
  /** Source of the `at` field. @default {Date.now} */
  clock?: WallClock;
}

const CIRCUIT_BY_GAUGE = new Map<number, CircuitState>(
  CIRCUIT_STATES.map((state) => [CIRCUIT_STATE_GAUGE[state], state]),
);

/** This node's figures, from its metrics and store (see `src/metrics/recent_checks.ts`). */
export class LocalFigures {
  readonly #recent: RecentChecks;
  readonly #metrics: LocalFiguresOptions["metrics"];
  readonly #store: LocalFiguresOptions["store"];
  readonly #clock: WallClock;

  constructor(options: LocalFiguresOptions) {
    const { metrics } = options;
    this.#metrics = metrics;
    this.#store = options.store;
    this.#clock = options.clock ?? Date.now;
    this.#recent = new RecentChecks({
      read: () => ({
        allowed: metrics.checkedAllowed.value,
        blocked: metrics.checkedBlocked.value,
        latency: metrics.checkDuration.bucketCounts(),
      }),
      buckets: CHECK_DURATION_BUCKETS,
      ...(options.windowMs === undefined ? {} : { windowMs: options.windowMs }),
    });
  }

  /** Adds a reading to the ring of totals; call once a second. */
  sample(): void {
    this.#recent.sample();
  }

  /** The figures now (over the ring's window), without changing the ring. */
  async current(): Promise<NodeFigures> {
    const recent = this.#recent.figures();
    let circuit: CircuitState | null = null;
    // Only the Redis stack has a circuit breaker; the gauge stays 0 (closed) on the embedded one.
    if (this.#store.kind === "redis") {
      const value = (await this.#metrics.circuitState.get()).values[0]?.value ?? 0;
      circuit = CIRCUIT_BY_GAUGE.get(value) ?? null;
    }
    return {
      allowed_per_second: recent.allowedPerSecond,
      blocked_per_second: recent.blockedPerSecond,
      p99_check_ms: recent.p99CheckMs,
      store: { kind: this.#store.kind, status: this.#store.status() },
      circuit_state: circuit,
      at: this.#clock(),
    };
  }
}

/** Options both twins take. */
export interface NodeStatsOptions {
  /** This node's id (the field its figures are kept under). */
  id: string;
  /** Where this node's figures come from. */
  figures: LocalFigures;
  /** Milliseconds between publications. @default {1000} */
  intervalMs?: number;
  /** Logger for failed publications (debug level: the next tick retries). @default {silentLogger} */
  logger?: Logger;
}

/**
 * The publishing loop: every interval, samples this node's totals and publishes its figures;
 * ticks never overlap. {@linkcode NodeStats.read} gives every node's last published figures.
 */
export abstract class NodeStats {
  readonly id: string;
  protected readonly intervalMs: number;
  readonly #figures: LocalFigures;
  readonly #logger: Logger;
  readonly #loop: Periodic;

  constructor(options: NodeStatsOptions) {
    this.id = options.id;
    this.#figures = options.figures;
    this.intervalMs = options.intervalMs ?? 1000;
    this.#logger = options.logger ?? silentLogger;
    this.#loop = new Periodic(this.intervalMs, () => this.tick());
  }

  /** Writes `figures` as this node's. */
  protected abstract publish(figures: NodeFigures): Promise<void>;
  /** Removes this node's figures (at stop). */
  protected abstract remove(): Promise<void>;
  /** Every node's last published figures, by node id (entries that do not parse are left out). */
  abstract read(): Promise<Map<string, NodeFigures>>;

  /** This node's figures now, without waiting for the next publication. */
  own(): Promise<NodeFigures> {
    return this.#figures.current();
  }

  /** Samples and publishes now, then every interval after the previous tick finished. */
  start(): void {
    this.#loop.start();
  }

  /** Stops publishing, waits for a running tick and removes this node's figures (best effort). */
  async stop(): Promise<void> {
    const wasRunning = this.#loop.started;
    await this.#loop.stop();
    if (wasRunning) await this.remove().catch(() => {});
  }

  /** One sample and publication; never throws. */
  async tick(): Promise<void> {
    this.#figures.sample();
    try {
      await this.publish(await this.#figures.current());
    } catch (error) {
      this.#logger.debug("node_stats_failed", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

/** Parses one published entry; `undefined` if it is not valid figures. */
export function parseFigures(raw: string): NodeFigures | undefined {
  try {
    const parsed = nodeFiguresSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
