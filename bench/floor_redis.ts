/**
 * The benchmark's floor on Redis: the least a Deno HTTP server must do per `/check`: parse the
 * same JSON body, make the same single EVALSHA of the same script with the same arguments, through
 * the same client, and send the same answer (JSON fields and rate-limit headers, built with the
 * service's own cheapest helper). No framework, validation, metrics, overrides or store
 * decorators. The service's throughput over this one's, measured in the same run, is what the
 * service's own code costs.
 *
 * `--answer minimal` answers `{"allowed","remaining"}` with only `Content-Type` instead, as the
 * first version of this floor did: it also leaves out the cost of the protocol's answer.
 *
 *   deno run --allow-net bench/floor_redis.ts --port 9100 --redis-url redis://127.0.0.1:6379
 *
 * @module
 */
import { parseArgs } from "node:util";
import { CHECK_SCRIPT } from "../src/limiter/scripts.ts";
import type { LimitRequest } from "../src/limiter/types.ts";
import { createRedisClient } from "../src/redis/client.ts";
import { checkResponse, toAnswer } from "../src/http/routes/check.ts";
import { counterKey } from "../src/store/keys.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string" },
    "redis-url": { type: "string" },
    answer: { type: "string" },
  },
});
const full = (values.answer ?? "full") === "full";
const client = await createRedisClient(values["redis-url"] ?? "redis://127.0.0.1:6379");
const sha = await client.sendCommand<string>(["SCRIPT", "LOAD", CHECK_SCRIPT]);
const json = { "content-type": "application/json" };

Deno.serve(
  { hostname: "127.0.0.1", port: Number(values.port ?? 9100), onListen: () => {} },
  async (req) => {
    if (req.method === "GET") return new Response('{"status":"ok"}', { headers: json });
    const body = JSON.parse(await req.text());
    const request: LimitRequest = {
      key: body.key,
      algorithm: "sliding_log",
      limit: body.limit ?? 100,
      windowMs: body.window_ms ?? 60_000,
      cost: 1,
    };
    // Arguments as RedisStore sends them: now ("" = Redis time), then code, limit, window, cost,
    // algorithm parameter (0 for the sliding log).
    const reply = await client.sendCommand<number[]>([
      "EVALSHA",
      sha,
      "1",
      counterKey("rl", "sliding_log", request.key),
      "",
      "sl",
      String(request.limit),
      String(request.windowMs),
      "1",
      "0",
    ]);
    const allowed = reply[0] === 1;
    if (!full) {
      return new Response(`{"allowed":${allowed},"remaining":${reply[4]}}`, {
        status: allowed ? 200 : 429,
        headers: json,
      });
    }
    const decision = {
      allowed: reply[2] === 1,
      count: Number(reply[3]),
      remaining: Number(reply[4]),
      retryAfterMs: Number(reply[5]),
      resetAfterMs: Number(reply[6]),
    };
    return checkResponse(toAnswer(request, decision), undefined);
  },
);
