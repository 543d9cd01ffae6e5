/**
 * Fuzz against the Redis-backed store (through the BreakerStore and FailureModeStore, as `main.ts` wires them): random
 * check bodies, odd keys included, reach the Lua scripts and the key encoding. Never a 5xx.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { BreakerStore } from "../../src/store/breaker_store.ts";
import { FailureModeStore } from "../../src/store/failure_mode_store.ts";
import { redisCall } from "../../src/redis/call.ts";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";
import {
  attackAnswerProblem,
  attackFetchRequest,
  describeAttack,
  randomAttackRequest,
  randomBody,
  randomCheckBody,
  randomString,
} from "../_helpers/fuzz.ts";
import { Rng } from "../_helpers/random.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 0x5eed_2026);

Deno.test({
  name: `fuzz: 1500 random checks on the Redis store never get a 5xx (seed ${SEED})`,
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const metrics = createMetrics({ nodeId: "fuzz", defaultMetrics: false });
    // A generous deadline: this test is about answers, not about a slow shared machine.
    const breaker = new BreakerStore({
      inner: new RedisStore({ client }),
      timeoutMs: 5000,
      metrics,
    });
    const store = new FailureModeStore({
      inner: breaker,
      failureMode: "closed",
      metrics,
    });
    const { app } = makeTestApp({ store, metrics });
    const rng = new Rng(SEED);
    const statuses = new Map<number, number>();
    try {
      const started = Date.now();
      let n = 0;
      for (; n < 1500 && Date.now() - started < 30_000; n++) {
        let body: string | Uint8Array<ArrayBuffer>;
        if (rng.chance(0.5)) {
          // Valid limits with odd but valid keys: braces, percent signs, emoji, long ones.
          const check = randomCheckBody(rng);
          check.key = randomString(rng).toWellFormed().replaceAll("\0", "") || "k";
          check.limit = 1 + rng.int(5);
          body = JSON.stringify(check);
        } else {
          body = randomBody(rng);
        }
        const res = await app.request("/check", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const text = await res.text();
        assert.ok(res.status < 500, `seed ${SEED} case ${n}: ${res.status} ${text}`);
      }
      assert.ok(n >= 300, `only ${n} cases ran (seed ${SEED})`);
      assert.ok((statuses.get(200) ?? 0) > 100, JSON.stringify([...statuses]));
      assert.ok((statuses.get(429) ?? 0) > 10, JSON.stringify([...statuses]));
      assert.equal(breaker.circuitState, "closed");
      assert.equal((await app.request("/ready")).status, 200);
    } finally {
      await store.close();
      await client.close();
    }
  },
});

/** Attack requests per run: each kind (peek, admin call, check, batch) a quarter of them. */
const ATTACK_CASES = 120;
/** Longest a PING may wait between two requests: a script that runs a few ms never gets near. */
const PING_DEADLINE_MS = 2000;
/** A client blocked at 2 per hour, whose state no other client's request may change. */
const VICTIM = { key: "victim", limit: 2, window_ms: 3_600_000 };
const VICTIM_PEEK = `/check/victim?limit=${VICTIM.limit}&window_ms=${VICTIM.window_ms}`;

Deno.test({
  name:
    `fuzz: issue 9 attack inputs on Redis: no 5xx but 503, Redis answers PING between requests, a blocked client stays blocked (seed ${SEED})`,
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    const pinger = await createRedisClient(redis.url, { name: "fuzz-ping" });
    const metrics = createMetrics({ nodeId: "fuzz", defaultMetrics: false });
    // A deadline well under the stalls this suite guards against (seconds per request), so a
    // request that stalls Redis comes back while Redis is still busy and the PING catches it.
    const breaker = new BreakerStore({
      inner: new RedisStore({ client }),
      timeoutMs: 1000,
      metrics,
    });
    const store = new FailureModeStore({
      inner: breaker,
      failureMode: "closed",
      metrics,
    });
    const { app } = makeTestApp({ store, metrics });
    const rng = new Rng(SEED ^ 0x0909_0909);
    try {
      for (const status of [200, 200, 429]) {
        assert.equal((await app.request("/check", jsonRequest(VICTIM))).status, status);
      }
      const started = Date.now();
      let n = 0;
      for (; n < ATTACK_CASES && Date.now() - started < 60_000; n++) {
        const attack = randomAttackRequest(rng, n, VICTIM.key);
        const where = `seed ${SEED} case ${n} (${describeAttack(attack)})`;
        const res = await app.fetch(attackFetchRequest(attack));
        const problem = attackAnswerProblem(attack, res.status, await res.text());
        assert.equal(problem, undefined, `${where}: ${problem}`);
        const pong = await redisCall(pinger, ["PING"], PING_DEADLINE_MS).catch((e) => e);
        assert.equal(pong, "PONG", `${where}: Redis did not answer PING: ${pong}`);
        // Answered from Redis (429) or refused (503 while the breaker is open): never allowed.
        const victim = await app.request(VICTIM_PEEK);
        const seen = await victim.json();
        assert.ok(
          victim.status === 429 && seen.current_count === 2 || victim.status === 503,
          `${where}: victim ${victim.status} ${JSON.stringify(seen)}`,
        );
      }
      assert.ok(n >= 40, `only ${n} attack cases ran (seed ${SEED})`);
    } finally {
      await store.close();
      // Not close(): it would wait for the replies of a script that may still be running.
      client.destroy();
      pinger.destroy();
    }
  },
});
