// The benchmark's Node peer: fastify + rate-limiter-flexible (RateLimiterRedis over ioredis), the
// usual way to rate-limit in Node, answering `POST /check` with the same body and about the same
// answer as the service (the JSON fields and rate-limit headers of a check). Not part of the
// service: `bench/run.ts` installs its packages from npm (`npm install` here) and runs it with Node.
//
//   node bench/peers/fastify_rlf/server.mjs --port 9102 --redis-url redis://127.0.0.1:6379
//
// rate-limiter-flexible has no sliding log; its Redis limiter counts a fixed window per key
// (one Lua call of SET NX PX + INCRBY, or the equivalent, per consume), the closest it offers and a
// cheaper one than the service's default sliding log, so the comparison favours the peer.
import process from "node:process";
import { parseArgs } from "node:util";
import Fastify from "fastify";
import { Redis } from "ioredis";
import { RateLimiterRedis } from "rate-limiter-flexible";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { port: { type: "string" }, "redis-url": { type: "string" } },
});
const redis = new Redis(values["redis-url"] ?? "redis://127.0.0.1:6379", {
  enableOfflineQueue: true,
});
/** One limiter per (limit, window), as an app would configure one per policy. */
const limiters = new Map();
function limiterFor(limit, windowMs) {
  const id = `${limit}:${windowMs}`;
  let limiter = limiters.get(id);
  if (limiter === undefined) {
    if (limiters.size >= 1000) limiters.clear();
    limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `peer:${id}`,
      points: limit,
      duration: Math.max(1, Math.ceil(windowMs / 1000)),
    });
    limiters.set(id, limiter);
  }
  return limiter;
}

const app = Fastify({ logger: false });
app.get("/health", () => ({ status: "ok" }));
app.post("/check", async (request, reply) => {
  const body = request.body;
  if (body === null || typeof body !== "object" || typeof body.key !== "string") {
    return reply.code(400).send({ error: { code: "invalid_body", message: "key is required" } });
  }
  const limit = Number.isInteger(body.limit) ? body.limit : 100;
  const windowMs = Number.isInteger(body.window_ms) ? body.window_ms : 60_000;
  let res;
  let allowed = true;
  try {
    res = await limiterFor(limit, windowMs).consume(body.key, 1);
  } catch (rejection) {
    if (rejection instanceof Error) throw rejection;
    res = rejection;
    allowed = false;
  }
  const resetSeconds = Math.ceil(res.msBeforeNext / 1000);
  const windowSeconds = Math.max(1, Math.ceil(windowMs / 1000));
  reply.code(allowed ? 200 : 429).headers({
    "X-RateLimit-Limit": String(limit),
    "X-RateLimit-Remaining": String(res.remainingPoints),
    "X-RateLimit-Reset": String(resetSeconds),
    "RateLimit-Policy": `"default";q=${limit};w=${windowSeconds}`,
    "RateLimit": `"default";r=${res.remainingPoints};t=${resetSeconds}`,
  });
  if (!allowed) reply.header("Retry-After", String(Math.max(1, resetSeconds)));
  return {
    allowed,
    key: body.key,
    algorithm: "fixed_window",
    current_count: res.consumedPoints,
    remaining: res.remainingPoints,
    retry_after_seconds: allowed ? 0 : Math.max(1, resetSeconds),
    retry_after_ms: allowed ? 0 : res.msBeforeNext,
    reset_after_ms: res.msBeforeNext,
    limit,
    window_ms: windowMs,
  };
});

await app.listen({ host: "127.0.0.1", port: Number(values.port ?? 9102) });
const stop = async () => {
  await app.close();
  redis.disconnect();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
