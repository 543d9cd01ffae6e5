/**
 * Node records in process memory: the {@linkcode Registry} of the embedded store, where the list
 * holds only this node.
 *
 * @module
 */
import type { WallClock } from "../clock.ts";
import type {
  NodeRecord,
  RegisterResult,
  RegistrationRequest,
  Registry,
  RegistrySnapshot,
  RegistryTiming,
} from "./registry.ts";

/** Options for {@linkcode MemoryRegistry}. */
export interface MemoryRegistryOptions {
  /** Source of time. @default {Date.now} */
  clock?: WallClock;
}

/**
 * Node records in process memory: with the embedded store the list holds only the node itself.
 * Applies the same rules as the Redis registry, so tests can drive them with a manual clock.
 */
export class MemoryRegistry implements Registry {
  readonly kind = "memory" as const;
  readonly #clock: WallClock;
  readonly #records = new Map<string, NodeRecord>();

  constructor(options: MemoryRegistryOptions = {}) {
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
