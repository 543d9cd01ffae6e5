/**
 * The node registry: every node registers itself in the shared store, refreshes its record every
 * heartbeat, and removes it on a clean shutdown, so the operator sees every node and its state.
 *
 * A node is `Up` while its last heartbeat is younger than the TTL and `Down` after that; a Down node
 * stays listed for {@linkcode DOWN_NODE_KEEP_FACTOR} × TTL, so a crashed node is visible instead of
 * silently vanishing, and is then dropped. Times come from the backend's clock (Redis `TIME` on the
 * Redis backend), so nodes with skewed clocks agree on who is Down.
 *
 * @module
 */
import type { WallClock } from "../clock.ts";
import type { Logger } from "../log.ts";
import { silentLogger } from "../log.ts";
import { VERSION } from "../version.ts";

/** A Down node is dropped from the list once its last heartbeat is this many TTLs old. */
export const DOWN_NODE_KEEP_FACTOR = 10;

/** What a node writes about itself. */
export interface NodeRecord {
  id: string;
  /** `<host>:<port>` the node is reached at. */
  address: string;
  version: string;
  /** Random id of the process holding the record; tells a restarted process from a duplicate. */
  instance: string;
  /** Milliseconds since the epoch, on the backend's clock. */
  registeredAt: number;
  /** Milliseconds since the epoch, on the backend's clock. */
  lastHeartbeatAt: number;
}

/** Whether a node's last heartbeat is younger than the TTL. */
export type NodeState = "Up" | "Down";

/** A listed node: its record, its state, and how old its last heartbeat is. */
export interface NodeInfo extends NodeRecord {
  state: NodeState;
  lastHeartbeatAgeMs: number;
}

/** Timing rules a backend applies, in milliseconds. */
export interface RegistryTiming {
  /** A node whose last heartbeat is at least this old is Down. */
  ttlMs: number;
  /** A node whose last heartbeat is at least this old is dropped. */
  keepMs: number;
}

/** What the node asks the backend to write. */
export interface RegistrationRequest {
  id: string;
  address: string;
  version: string;
  instance: string;
  /** Kept across heartbeats; unset on the first registration (the backend's now is used). */
  registeredAt?: number | undefined;
}

/** Answer of {@linkcode RegistryBackend.register}. */
export type RegisterResult =
  | { ok: true; record: NodeRecord; upCount: number }
  | { ok: false; holder: NodeRecord; now: number };

/** A list of records as of the backend's `now`. */
export interface RegistrySnapshot {
  now: number;
  records: NodeRecord[];
}

/**
 * Where node records live. `register` is atomic: it refuses (`ok: false`) while the id is held by
 * another instance whose heartbeat is younger than the TTL, and otherwise writes the full record,
 * drops records older than `keepMs` and counts the Up nodes.
 */
export interface RegistryBackend {
  readonly kind: "memory" | "redis";
  register(request: RegistrationRequest, timing: RegistryTiming): Promise<RegisterResult>;
  /** Removes the record of `id` if `instance` holds it; true if removed. */
  deregister(id: string, instance: string): Promise<boolean>;
  /** Records younger than `keepMs`, after dropping older ones. */
  list(timing: RegistryTiming): Promise<RegistrySnapshot>;
}

/** Thrown by {@linkcode NodeRegistry.start} when a live node from another process holds the id. */
export class NodeIdConflictError extends Error {
  readonly id: string;
  /** Address of the node holding the id. */
  readonly address: string;
  readonly lastHeartbeatAgeMs: number;

  constructor(id: string, address: string, lastHeartbeatAgeMs: number) {
    super(
      `Node id "${id}" is already held by a live node at ${address} (last heartbeat ` +
        `${Math.max(0, Math.round(lastHeartbeatAgeMs))} ms ago): set another ` +
        `RATELIMITER_NODE_ID, or stop that node (a crashed node frees its id once it is Down)`,
    );
    this.name = "NodeIdConflictError";
    this.id = id;
    this.address = address;
    this.lastHeartbeatAgeMs = lastHeartbeatAgeMs;
  }
}

/** Options for {@linkcode NodeRegistry}. */
export interface NodeRegistryOptions {
  backend: RegistryBackend;
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
  readonly #backend: RegistryBackend;
  readonly #timing: RegistryTiming;
  readonly #heartbeatMs: number;
  readonly #logger: Logger;
  readonly #autoHeartbeat: boolean;
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
  }

  /** The backend kind: `memory` (only this node) or `redis` (the cluster). */
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

  /**
   * Registers this node and starts the heartbeat. Throws {@linkcode NodeIdConflictError} when a
   * live node of another process holds the id, or the backend's error when it cannot be reached.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    const result = await this.#backend.register(this.#request(), this.#timing);
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
      this.#registeredAt ??= result.record.registeredAt;
      this.#liveNodes = result.upCount;
      if (this.#failing !== undefined) this.#logger.info("registry_heartbeat_recovered");
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

/** Options for {@linkcode MemoryRegistryBackend}. */
export interface MemoryRegistryBackendOptions {
  /** Source of time. @default {Date.now} */
  clock?: WallClock;
}

/**
 * Node records in process memory: with the embedded store the list holds only the node itself.
 * Applies the same rules as the Redis backend, so tests can drive them with a manual clock.
 */
export class MemoryRegistryBackend implements RegistryBackend {
  readonly kind = "memory" as const;
  readonly #clock: WallClock;
  readonly #records = new Map<string, NodeRecord>();

  constructor(options: MemoryRegistryBackendOptions = {}) {
    this.#clock = options.clock ?? Date.now;
  }

  #prune(now: number, keepMs: number): void {
    for (const [id, record] of this.#records) {
      if (now - record.lastHeartbeatAt >= keepMs) this.#records.delete(id);
    }
  }

  register(request: RegistrationRequest, timing: RegistryTiming): Promise<RegisterResult> {
    const now = this.#clock();
    const current = this.#records.get(request.id);
    if (
      current !== undefined && current.instance !== request.instance &&
      now - current.lastHeartbeatAt < timing.ttlMs
    ) {
      return Promise.resolve({ ok: false, holder: { ...current }, now });
    }
    const record: NodeRecord = {
      id: request.id,
      address: request.address,
      version: request.version,
      instance: request.instance,
      registeredAt: request.registeredAt ?? now,
      lastHeartbeatAt: now,
    };
    this.#records.set(request.id, record);
    this.#prune(now, timing.keepMs);
    let upCount = 0;
    for (const r of this.#records.values()) if (now - r.lastHeartbeatAt < timing.ttlMs) upCount++;
    return Promise.resolve({ ok: true, record: { ...record }, upCount });
  }

  deregister(id: string, instance: string): Promise<boolean> {
    const current = this.#records.get(id);
    if (current === undefined || current.instance !== instance) return Promise.resolve(false);
    this.#records.delete(id);
    return Promise.resolve(true);
  }

  list(timing: RegistryTiming): Promise<RegistrySnapshot> {
    const now = this.#clock();
    this.#prune(now, timing.keepMs);
    return Promise.resolve({ now, records: [...this.#records.values()].map((r) => ({ ...r })) });
  }
}
