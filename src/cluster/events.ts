/**
 * Events that every node must hear about, to drop state it caches: an override changed, or a
 * counter was reset. This is the port ({@linkcode ClusterEvents}) with the event types; the twins
 * are `memory_events.ts` (within the process, for the embedded store) and `redis_events.ts`
 * (pub/sub on `<prefix>:events`).
 *
 * @module
 */
import type { Logger } from "../log.ts";

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

/**
 * Publishes `event` on behalf of the component that changed the state. Never throws: a lost event
 * is caught up by the override poll (and a block cache entry by its expiry), so a failure is only
 * logged (warn `event_publish_failed`).
 */
export async function publishChange(
  events: ClusterEvents,
  event: ClusterEvent,
  logger: Logger,
): Promise<void> {
  try {
    await events.publish(event);
  } catch (error) {
    logger.warn("event_publish_failed", {
      type: event.type,
      error: error instanceof Error ? error.message : String(error),
    });
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
