/**
 * The benchmark's bare floor on Redis: what a hand-written limiter does per `/check` at least.
 * `Deno.serve`, `JSON.parse` of the body, one EVALSHA of the textbook sliding-log script (trim the
 * expired entries, count, add, set the expiry: four commands, no clock argument, no metadata, no
 * exact multi-unit bookkeeping) through the service's Redis client, and a four-field JSON answer
 * with only `Content-Type`. No validation, no rate-limit headers, no metrics, no decorators.
 * Issue 16 asks the service for at least 0.75× this floor's throughput on the same load.
 *
 *   deno run --allow-net bench/floor_bare.ts --port 9103 --redis-url redis://127.0.0.1:6379
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createRedisClient } from "../src/redis/client.ts";

/** KEYS[1] the log; ARGV limit, window in ms. Reply: allowed (0/1), count, remaining. */
const BARE_SLIDING_LOG = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then return {0, count, 0} end
redis.call('ZADD', KEYS[1], now, t[1] .. t[2] .. ':' .. count)
redis.call('PEXPIRE', KEYS[1], window)
return {1, count + 1, limit - count - 1}
`;

const { values } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string" }, "redis-url": { type: "string" } },
});
const client = await createRedisClient(values["redis-url"] ?? "redis://127.0.0.1:6379");
const sha = await client.sendCommand<string>(["SCRIPT", "LOAD", BARE_SLIDING_LOG]);
const json = { "content-type": "application/json" };

Deno.serve(
  { hostname: "127.0.0.1", port: Number(values.port ?? 9103), onListen: () => {} },
  async (req) => {
    if (req.method === "GET") return new Response('{"status":"ok"}', { headers: json });
    const body = JSON.parse(await req.text());
    const limit = body.limit ?? 100;
    const reply = await client.sendCommand<number[]>([
      "EVALSHA",
      sha,
      "1",
      `bare:${body.key}`,
      String(limit),
      String(body.window_ms ?? 60_000),
    ]);
    const allowed = reply[0] === 1;
    return new Response(
      `{"allowed":${allowed},"key":${JSON.stringify(body.key)},"remaining":${
        reply[2]
      },"limit":${limit}}`,
      { status: allowed ? 200 : 429, headers: json },
    );
  },
);
