/**
 * The node registry's port: where node records live ({@linkcode Registry}), with the records, the
 * timing rules and the error a node gets when its id is taken. Twins: `memory_registry.ts` (one
 * node) and `redis_registry.ts` (the cluster); `node_registry.ts` is this node's membership.
 *
 * Every node registers itself, refreshes its record every heartbeat, and removes it on a clean
 * shutdown, so the operator sees every node and its state.
 *
 * A node is `Up` while its last heartbeat is younger than the TTL and `Down` after that; a Down node
 * stays listed for {@linkcode DOWN_NODE_KEEP_FACTOR} × TTL, so a crashed node is visible instead of
 * silently vanishing, and is then dropped. Times come from the registry's clock (Redis `TIME` on
 * the Redis registry), so nodes with skewed clocks agree on who is Down.
 *
 * @module
 */
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
  /** Milliseconds since the epoch, on the registry's clock. */
  registeredAt: number;
  /** Milliseconds since the epoch, on the registry's clock. */
  lastHeartbeatAt: number;
}

/** Whether a node's last heartbeat is younger than the TTL. */
export type NodeState = "Up" | "Down";

/** A listed node: its record, its state, and how old its last heartbeat is. */
export interface NodeInfo extends NodeRecord {
  state: NodeState;
  lastHeartbeatAgeMs: number;
}

/** Timing rules a registry applies, in milliseconds. */
export interface RegistryTiming {
  /** A node whose last heartbeat is at least this old is Down. */
  ttlMs: number;
  /** A node whose last heartbeat is at least this old is dropped. */
  keepMs: number;
}

/** What the node asks the registry to write. */
export interface RegistrationRequest {
  id: string;
  address: string;
  version: string;
  instance: string;
  /** Kept across heartbeats; unset on the first registration (the registry's now is used). */
  registeredAt?: number | undefined;
}

/** Answer of {@linkcode Registry.register}. */
export type RegisterResult =
  | { ok: true; record: NodeRecord; upCount: number }
  | { ok: false; holder: NodeRecord; now: number };

/** A list of records as of the registry's `now`. */
export interface RegistrySnapshot {
  now: number;
  records: NodeRecord[];
}

/**
 * Where node records live. `register` is atomic: it refuses (`ok: false`) while the id is held by
 * another instance whose heartbeat is younger than the TTL, and otherwise writes the full record,
 * drops records older than `keepMs` and counts the Up nodes.
 */
export interface Registry {
  readonly kind: "memory" | "redis";
  register(request: RegistrationRequest, timing: RegistryTiming): Promise<RegisterResult>;
  /** Removes the record of `id` if `instance` holds it; true if removed. */
  deregister(id: string, instance: string): Promise<boolean>;
  /** Records younger than `keepMs`, after dropping older ones. */
  list(timing: RegistryTiming): Promise<RegistrySnapshot>;
}

/** Thrown by `NodeRegistry.start` when a live node from another process holds the id. */
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
