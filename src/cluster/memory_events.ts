/**
 * {@linkcode ClusterEvents} within one process, for the embedded store and tests.
 *
 * @module
 */
import type { ClusterEvent, ClusterEventListener, ClusterEvents } from "./events.ts";

/** {@linkcode ClusterEvents} within one process, for the embedded store and tests. */
export class MemoryEvents implements ClusterEvents {
  readonly #listeners = new Set<ClusterEventListener>();

  publish(event: ClusterEvent): Promise<void> {
    for (const listener of this.#listeners) listener(event);
    return Promise.resolve();
  }

  subscribe(listener: ClusterEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): Promise<void> {
    this.#listeners.clear();
    return Promise.resolve();
  }
}
