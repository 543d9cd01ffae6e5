/**
 * Events that every node must hear about, to drop state it caches: an override changed, or a
 * counter was reset. On Redis they travel over pub/sub on `<prefix>:events`; on the embedded
 * store they stay in the process.
 *
 * @module
 */

/** A change every node must apply to what it caches. */
export type ClusterEvent =
  | { type: "override_changed"; key: string }
  | { type: "counter_reset"; key: string };

/** Receives {@linkcode ClusterEvent}s. */
export type ClusterEventListener = (event: ClusterEvent) => void;

/** Publishes events to every node (this one included) and delivers theirs. */
export interface ClusterEvents {
  /** Sends `event` to every node, this one included. */
  publish(event: ClusterEvent): Promise<void>;
  /** Calls `listener` for every event; returns a function that stops it. */
  subscribe(listener: ClusterEventListener): () => void;
  /** Stops delivering and releases connections. */
  close(): Promise<void>;
}

/** {@linkcode ClusterEvents} within one process, for the embedded store and tests. */
export class LocalEvents implements ClusterEvents {
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

/** Parses a pub/sub message into a {@linkcode ClusterEvent}, or `undefined` if it is not one. */
export function parseClusterEvent(message: string): ClusterEvent | undefined {
  try {
    const value = JSON.parse(message);
    if (
      value !== null && typeof value === "object" && typeof value.key === "string" &&
      (value.type === "override_changed" || value.type === "counter_reset")
    ) {
      return { type: value.type, key: value.key };
    }
  } catch {
    // Not JSON: ignore, like any other foreign message on the channel.
  }
  return undefined;
}
