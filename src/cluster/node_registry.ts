/**
 * This node's membership in the cluster: its registration and heartbeat on a {@linkcode Registry}.
 *
 * @module
 */
import { StoreUnavailableError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { silentLogger } from "../log.ts";
import { VERSION } from "../version.ts";
import {
  DOWN_NODE_KEEP_FACTOR,
  NodeIdConflictError,
  type NodeInfo,
  type RegistrationRequest,
  type Registry,
  type RegistryTiming,
} from "./registry.ts";

/** Options for {@linkcode NodeRegistry}. */
export interface NodeRegistryOptions {
  /** Where the records live: a `MemoryRegistry` (one node) or a `RedisRegistry` (the cluster). */
  backend: Registry;
  /** This node's id. */
  id: string;
  /** `<host>:<port>` this node advertises. */
  address: string;
  /** A node whose last heartbeat is older is Down. */
  ttlSeconds: number;
  /** Interval between heartbeats; below the TTL. */
  heartbeatSeconds: number;
  /** Version written in the record. @default {VERSION} */
  version?: string;
  /** Random id of this process. @default {crypto.randomUUID()} */
  instance?: string;
  /** Logger for heartbeat failures and recoveries. @default {silentLogger} */
  logger?: Logger;
  /** Whether {@linkcode NodeRegistry.start} starts the heartbeat timer (tests beat by hand). @default {true} */
  autoHeartbeat?: boolean;
  /**
   * Called when the node could not register at start (the registry was unreachable) and its first
   * successful heartbeat finds the id held by a live node of another process: the node must not
   * run. Unset: only logged as `node_id_taken`. @default {none}
   */
  onLateConflict?: (error: NodeIdConflictError) => void;
}

/**
 * This node's membership in the cluster: registers on {@linkcode start}, re-writes its full record
 * every heartbeat (so a Redis that restarted empty gets the node back), and deregisters on
 * {@linkcode stop}. Heartbeats survive store outages: a failure is logged once and retried.
 */
export class NodeRegistry {
  readonly id: string;
  readonly address: string;
  readonly version: string;
  readonly instance: string;
  readonly #backend: Registry;
  readonly #timing: RegistryTiming;
  readonly #heartbeatMs: number;
  readonly #logger: Logger;
  readonly #autoHeartbeat: boolean;
  readonly #onLateConflict: ((error: NodeIdConflictError) => void) | undefined;
  #registeredAt: number | undefined;
  #liveNodes = 1;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #beating: Promise<void> | undefined;
  #running = false;
  #failing: "error" | "taken" | undefined;

  constructor(options: NodeRegistryOptions) {
    if (!(options.heartbeatSeconds > 0 && options.heartbeatSeconds < options.ttlSeconds)) {
      throw new RangeError(
        `Cannot use a heartbeat of ${options.heartbeatSeconds} s: expected a positive value ` +
          `below the TTL (${options.ttlSeconds} s)`,
      );
    }
    this.#backend = options.backend;
    this.id = options.id;
    this.address = options.address;
    this.version = options.version ?? VERSION;
    this.instance = options.instance ?? crypto.randomUUID();
    this.#timing = {
      ttlMs: options.ttlSeconds * 1000,
      keepMs: options.ttlSeconds * 1000 * DOWN_NODE_KEEP_FACTOR,
    };
    this.#heartbeatMs = options.heartbeatSeconds * 1000;
    this.#logger = options.logger ?? silentLogger;
    this.#autoHeartbeat = options.autoHeartbeat ?? true;
    this.#onLateConflict = options.onLateConflict;
  }

  /** The registry kind: `memory` (only this node) or `redis` (the cluster). */
  get kind(): "memory" | "redis" {
    return this.#backend.kind;
  }

  #request(): RegistrationRequest {
    return {
      id: this.id,
      address: this.address,
      version: this.version,
      instance: this.instance,
      registeredAt: this.#registeredAt,
    };
  }

  /** Whether this process has registered: at start, or by a heartbeat if the registry was down. */
  get registered(): boolean {
    return this.#registeredAt !== undefined;
  }

  /**
   * Registers this node and starts the heartbeat. Throws {@linkcode NodeIdConflictError} when a
   * live node of another process holds the id. When the registry cannot be reached
   * (`StoreUnavailableError`: the node started while Redis is down) it logs
   * `registry_heartbeat_failed` once and starts the heartbeat anyway: the first heartbeat that
   * succeeds registers the node, and if it finds the id taken calls `onLateConflict`. Any other
   * error is thrown.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    let result;
    try {
      result = await this.#backend.register(this.#request(), this.#timing);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.#logger.warn("registry_heartbeat_failed", {
        error: error.message,
        note: "not registered yet; registering as soon as the registry answers",
      });
      this.#failing = "error";
      this.#running = true;
      if (this.#autoHeartbeat) this.#schedule();
      return;
    }
    if (!result.ok) {
      throw new NodeIdConflictError(
        this.id,
        result.holder.address,
        result.now - result.holder.lastHeartbeatAt,
      );
    }
    this.#registeredAt = result.record.registeredAt;
    this.#liveNodes = result.upCount;
    this.#running = true;
    if (this.#autoHeartbeat) this.#schedule();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#beating = this.heartbeat().finally(() => {
        this.#beating = undefined;
        if (this.#running) this.#schedule();
      });
    }, this.#heartbeatMs);
  }

  /** Refreshes the record once; never throws (failures are logged once per transition). */
  async heartbeat(): Promise<void> {
    try {
      const result = await this.#backend.register(this.#request(), this.#timing);
      if (!result.ok) {
        if (this.#registeredAt === undefined && this.#onLateConflict !== undefined) {
          // Never registered (the registry was down at start): the id was someone else's all along.
          this.#running = false;
          clearTimeout(this.#timer);
          this.#timer = undefined;
          this.#onLateConflict(
            new NodeIdConflictError(
              this.id,
              result.holder.address,
              result.now - result.holder.lastHeartbeatAt,
            ),
          );
          return;
        }
        // Another process took the id while this one could not beat for a whole TTL.
        if (this.#failing !== "taken") {
          this.#logger.error("node_id_taken", {
            message: new NodeIdConflictError(
              this.id,
              result.holder.address,
              result.now - result.holder.lastHeartbeatAt,
            ).message,
          });
        }
        this.#failing = "taken";
        return;
      }
      const late = this.#registeredAt === undefined;
      this.#registeredAt ??= result.record.registeredAt;
      this.#liveNodes = result.upCount;
      if (late) this.#logger.info("node_registered", { address: this.address });
      else if (this.#failing !== undefined) this.#logger.info("registry_heartbeat_recovered");
      this.#failing = undefined;
    } catch (error) {
      if (this.#failing !== "error") {
        this.#logger.warn("registry_heartbeat_failed", {
          error: error instanceof Error ? error.message : String(error),
          note: "retrying every heartbeat; this node shows as Down once its TTL passes",
        });
      }
      this.#failing = "error";
    }
  }

  /** Stops the heartbeat and removes this node's record (only if this process holds it). */
  async stop(): Promise<void> {
    const wasRunning = this.#running;
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#beating;
    if (wasRunning) await this.#backend.deregister(this.id, this.instance);
  }

  /** Every listed node (Up, and Down for up to 10 × TTL), sorted by id. */
  async list(): Promise<NodeInfo[]> {
    const snapshot = await this.#backend.list(this.#timing);
    const nodes = snapshot.records.map((record) => {
      const age = snapshot.now - record.lastHeartbeatAt;
      return {
        ...record,
        state: age < this.#timing.ttlMs ? "Up" as const : "Down" as const,
        lastHeartbeatAgeMs: Math.max(0, age),
      };
    });
    this.#liveNodes = Math.max(1, nodes.filter((n) => n.state === "Up").length);
    return nodes.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  /**
   * Number of Up nodes as last seen by a heartbeat or a list, at least 1 (this node). Synchronous,
   * for the hot path; it may be one heartbeat old.
   */
  liveNodeCount(): number {
    return this.#liveNodes;
  }
}
