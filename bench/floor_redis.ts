/**
 * The benchmark's floor on Redis: the least a Deno HTTP server must do per `/check`: parse the
 * same JSON body and make the same single EVALSHA of the same script with the same arguments,
 * through the same client. No framework, validation, metrics or rate-limit headers. The service's
 * throughput over this one's, measured in the same run, is what the service's own code costs.
 *
 *   deno run --allow-net bench/floor_redis.ts --port 9100 --redis-url redis://127.0.0.1:6379
 *
 * @module
 */
import { parseArgs } from "node:util";
import { CHECK_SCRIPT } from "../src/limiter/scripts.ts";
import { createRedisClient } from "../src/redis.ts";
import { counterKey } from "../src/store/keys.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string" }, "redis-url": { type: "string" } },
});
const client = await createRedisClient(values["redis-url"] ?? "redis://127.0.0.1:6379");
const sha = await client.sendCommand<string>(["SCRIPT", "LOAD", CHECK_SCRIPT]);
const json = { "content-type": "application/json" };

Deno.serve(
  { hostname: "127.0.0.1", port: Number(values.port ?? 9100), onListen: () => {} },
  async (req) => {
    if (req.method === "GET") return new Response('{"status":"ok"}', { headers: json });
    const body = JSON.parse(await req.text());
    const reply = await client.sendCommand<number[]>([
      "EVALSHA",
      sha,
      "1",
      counterKey("rl", "sliding_log", body.key),
      "",
      "sl",
      String(body.limit ?? 100),
      String(body.window_ms ?? 60_000),
      "1",
    ]);
    const allowed = reply[0] === 1;
    return new Response(`{"allowed":${allowed},"remaining":${reply[4]}}`, {
      status: allowed ? 200 : 429,
      headers: json,
    });
  },
);
