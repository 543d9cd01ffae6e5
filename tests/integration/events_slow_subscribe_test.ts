/**
 * A Redis that is up but slow to confirm the events subscription at start (a loaded machine, a
 * master just elected) must not stop the node: `RedisEvents.connect` logs `events_subscribe_slow`,
 * returns, and the subscription completes in the background.
 *
 * @module
 */
import assert from "node:assert/strict";
import { RedisEvents } from "../../src/cluster/redis_events.ts";
import { createLogger } from "../../src/log.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { integration as opts } from "../_helpers/options.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { waitFor } from "../_helpers/wait.ts";

Deno.test({
  ...opts,
  name:
    "RedisEvents.connect() starts when the subscription is slow, and subscribes in the background",
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const lines: string[] = [];
    const logger = createLogger({ write: (line) => lines.push(line) });
    // Redis stalls for 1 s while the subscriber connects: longer than the 200 ms deadline.
    const asleep = redis.cli("DEBUG", "SLEEP", "1");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const events = await RedisEvents.connect({ client, logger, timeoutMs: 200 });
    try {
      assert.ok(lines.some((l) => l.includes('"events_subscribe_slow"')), lines.join("\n"));
      await asleep;
      await waitFor(
        "the background subscription",
        () => lines.some((l) => l.includes('"events_subscribed"')),
      );
      const seen: string[] = [];
      events.subscribe((event) => seen.push(event.key));
      await events.publish({ type: "counter_reset", key: "k1" });
      await waitFor("the event delivered", () => seen.includes("k1"));
    } finally {
      await events.close();
      await client.close();
    }
  },
});
