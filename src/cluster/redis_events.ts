/**
 * {@linkcode ClusterEvents} over Redis pub/sub on the channel `<prefix>:events`, so every node
 * (this one included) hears about overrides that changed and counters that were reset.
 *
 * On a Redis Cluster the subscriber listens on one node and classic `PUBLISH` is broadcast to
 * every node over the cluster bus, so every node hears every event whichever node it reaches.
 * Sharded pub/sub (`SSUBSCRIBE`) would save that broadcast, but it pins one channel to one slot,
 * so all events would still go through one master; at the rate events occur (an override changed,
 * a counter reset: operator actions) the broadcast costs nothing measurable, and classic pub/sub
 * works the same in every mode.
 *
 * Pub/sub delivers at most once: a message sent while a node is disconnected is lost. Listeners
 * must therefore treat an event as a hint to refresh early, never as the only way to converge
 * (the override cache also polls a version key).
 *
 * @module
 */
import {
  type ClusterEvent,
  type ClusterEventListener,
  type ClusterEvents,
  parseClusterEvent,
} from "./events.ts";
import { type Logger, silentLogger } from "../log.ts";
import { REDIS_CALL_TIMEOUT_MS, redisCall } from "../redis/call.ts";
import type { RedisClient, RedisSubscriber } from "../redis/connection.ts";
import { DEFAULT_KEY_PREFIX, eventsChannel } from "../store/keys.ts";
import { DEADLINE_PASSED, withDeadline } from "../deadline.ts";

/** Options for {@linkcode RedisEvents.connect}. */
export interface RedisEventsOptions {
  /** The client used to publish (connected, or still connecting); duplicated to subscribe. */
  client: RedisClient;
  /** Prefix of the channel name. @default {DEFAULT_KEY_PREFIX} */
  prefix?: string;
  /** Deadline of connecting, subscribing and each publish, in milliseconds. @default {2000} */
  timeoutMs?: number;
  /** Logger for subscriber connection problems and failing listeners. @default {silentLogger} */
  logger?: Logger;
}

/** Cluster events over Redis pub/sub, with a dedicated subscriber connection. */
export class RedisEvents implements ClusterEvents {
  /** The channel events travel on. */
  readonly channel: string;
  readonly #client: RedisClient;
  readonly #subscriber: RedisSubscriber;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  readonly #listeners = new Set<ClusterEventListener>();
  #closed = false;

  private constructor(
    client: RedisClient,
    subscriber: RedisSubscriber,
    channel: string,
    timeoutMs: number,
    logger: Logger,
  ) {
    this.#client = client;
    this.#subscriber = subscriber;
    this.channel = channel;
    this.#timeoutMs = timeoutMs;
    this.#logger = logger;
  }

  /**
   * Opens the subscriber connection and subscribes. While `client` is connected, waits for the
   * subscription at most `timeoutMs` (a refusal rejects; a slower answer logs
   * `events_subscribe_slow` and the subscription completes in the background); while Redis is down (the node started without it), returns
   * at once and subscribes in the background as soon as Redis answers. The subscriber reconnects
   * and resubscribes by itself after an outage. Events sent before the subscription are missed,
   * which listeners tolerate (see the module doc).
   */
  static async connect(options: RedisEventsOptions): Promise<RedisEvents> {
    const timeoutMs = options.timeoutMs ?? REDIS_CALL_TIMEOUT_MS;
    const logger = options.logger ?? silentLogger;
    // A connection in subscriber mode can run no other command, hence a dedicated one.
    const subscriber = options.client.subscriber("ratelimiter-events");
    let lastError = "";
    subscriber.on("error", (error: Error) => {
      if (error.message !== lastError) {
        lastError = error.message;
        logger.warn("events_subscriber_error", { error: error.message });
      }
    });
    subscriber.on("ready", () => {
      lastError = "";
    });
    const events = new RedisEvents(
      options.client,
      subscriber,
      eventsChannel(options.prefix ?? DEFAULT_KEY_PREFIX),
      timeoutMs,
      logger,
    );
    const waitForIt = options.client.isReady;
    const subscribed = (async () => {
      // Retries with the client's backoff until Redis answers; resolves early if closed meanwhile.
      await subscriber.connect();
      if (events.#closed) return;
      await subscriber.subscribe(events.channel, (message: string) => events.#deliver(message));
      if (!waitForIt) logger.info("events_subscribed", { channel: events.channel });
    })();
    subscribed.catch((error) => {
      if (events.#closed) return;
      logger.warn("events_subscribe_failed", {
        error: error instanceof Error ? error.message : String(error),
        note: "overrides still converge by polling",
      });
    });
    if (!waitForIt) return events;
    try {
      const done = await withDeadline(subscribed, timeoutMs);
      if (done === DEADLINE_PASSED) {
        // Slow, not refused (a loaded Redis, or a master just elected): the node starts anyway
        // and the subscription completes in the background, as after an outage.
        logger.warn("events_subscribe_slow", {
          after_ms: timeoutMs,
          note: "subscribing in the background; overrides still converge by polling",
        });
        subscribed.then(() => {
          if (!events.#closed) logger.info("events_subscribed", { channel: events.channel });
        }, () => {});
      }
    } catch (error) {
      await events.close();
      throw error;
    }
    return events;
  }

  #deliver(message: string): void {
    const event = parseClusterEvent(message);
    if (event === undefined) return;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#logger.error("event_listener_failed", {
          type: event.type,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }

  /** Publishes `event`; throws `StoreUnavailableError` when Redis cannot answer. */
  async publish(event: ClusterEvent): Promise<void> {
    await redisCall(
      this.#client,
      ["PUBLISH", this.channel, JSON.stringify(event)],
      this.#timeoutMs,
    );
  }

  subscribe(listener: ClusterEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    // A frozen Redis never answers the goodbye: wait a little, then drop the connection.
    try {
      if (this.#subscriber.isOpen) {
        const closed = await withDeadline(this.#subscriber.close(), 1000);
        if (closed === DEADLINE_PASSED) this.#subscriber.destroy();
      }
    } catch {
      this.#subscriber.destroy();
    }
  }
}
