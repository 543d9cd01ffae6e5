import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../src/errors.ts";
import { createRedisClient } from "../../src/redis/client.ts";
import { PEEK_CHUNK, RedisStore } from "../../src/store/redis_store.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { ALL_CASES, runStoreCases } from "../store/_cases.ts";
import { createManualClock } from "../_helpers/manual_clock.ts";
import { equivalenceGroups } from "../_helpers/checks.ts";
import { integration as opts } from "../_helpers/options.ts";

const req = (key: string, limit = 10, windowMs = 60_000) => ({
  key,
  algorithm: "sliding_log" as const,
  limit,
  windowMs,
  cost: 1,
});

Deno.test({
  name: "RedisStore passes the shared cases of every algorithm",
  ...opts,
  async fn(t) {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      await runStoreCases(t, ALL_CASES, async (clock) => {
        const store = new RedisStore({ client, prefix: "test", clock });
        await store.init();
        return store;
      });
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisStore recovers from NOSCRIPT after SCRIPT FLUSH",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client });
      await store.init();
      assert.deepEqual((await store.check([req("a", 2)])).allowed, true);
      assert.deepEqual(await client.sendCommand(["SCRIPT", "FLUSH"]), "OK");
      const outcome = await store.check([req("a", 2)]);
      assert.deepEqual(outcome.decisions[0]!.count, 2);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisStore writes the documented key schema with a TTL",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client, prefix: "rl" });
      await store.check([req("user:1", 5, 10_000)]);
      await store.check([req("{tenant}:ip", 5, 10_000)]);
      await store.check([req("limit:x", 5, 10_000)]);
      const keys = (await client.sendCommand<string[]>(["KEYS", "*"])).sort();
      assert.deepEqual(keys, ["rl:sl:{limit:x}", "rl:sl:{tenant}::ip", "rl:sl:{user:1}"]);
      const ttl = await client.sendCommand<number>(["PTTL", "rl:sl:{user:1}"]);
      assert.deepEqual(ttl > 9000 && ttl <= 10_001, true, `ttl ${ttl}`);
      assert.deepEqual(await store.reset("user:1"), true);
      assert.deepEqual(await client.sendCommand(["EXISTS", "rl:sl:{user:1}"]), 0);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisStore.listCounters() pages 5,000 keys, each exactly once",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client });
      await store.checkMany(Array.from({ length: 5000 }, (_, i) => [req(`user:${i}`)]));
      await store.check([req("other")]);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listCounters({ cursor, limit: 100, prefix: "user:" });
        assert.deepEqual(page.counters.length <= 100, true);
        seen.push(...page.counters.map((c) => c.key));
        for (const c of page.counters) assert.deepEqual(c.decision.count, 1);
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== undefined && pages < 1000);
      assert.deepEqual(seen.length, 5000);
      assert.deepEqual(new Set(seen).size, 5000);
      assert.deepEqual(await store.countCounters(), 5001);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisStore turns a dead connection into StoreUnavailableError",
  ...opts,
  async fn() {
    const redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client });
      await store.check([req("a")]);
      await redis.kill();
      await new Promise((r) => setTimeout(r, 100));
      await assert.rejects(() => store.check([req("a")]), StoreUnavailableError);
      assert.deepEqual(store.status(), "down");
      const failure = await store.check([req("a")]).catch((e) => e);
      assert.ok(failure instanceof StoreUnavailableError, String(failure));
      assert.equal(failure.kind, "connection");
    } finally {
      client.destroy();
    }
  },
});

Deno.test({
  name: "RedisStore turns an error reply into StoreUnavailableError of kind reply, store still up",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client });
      await store.init();
      assert.equal(
        await client.sendCommand(["CONFIG", "SET", "maxmemory-policy", "noeviction"]),
        "OK",
      );
      assert.equal(await client.sendCommand(["CONFIG", "SET", "maxmemory", "1"]), "OK");
      const failure = await store.check([req("a")]).catch((e) => e);
      assert.ok(failure instanceof StoreUnavailableError, String(failure));
      assert.equal(failure.kind, "reply");
      assert.match(failure.message, /OOM/);
      assert.deepEqual(store.status(), "up");
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisStore.checkMany() answers as the same checks one by one would",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const clock = createManualClock();
      const store = new RedisStore({ client, clock });
      await store.init();
      const batched = await store.checkMany(equivalenceGroups(300, "batch"));
      const oneByOne = [];
      for (const group of equivalenceGroups(300, "single")) oneByOne.push(await store.check(group));
      assert.deepEqual(batched, oneByOne);
      assert.ok(batched.some((o) => o.allowed) && batched.some((o) => !o.allowed));
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisStore keeps every O(1) algorithm in a small hash with a TTL and lists it",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      // A fixed clock at the start of a 10 s window: the fixed-window key then lives a full
      // 10 s of real time, however slowly the checks below run (with Redis's own clock it
      // expired at the next window boundary, possibly between two of them).
      const clock = createManualClock(1_700_000_000_000);
      const store = new RedisStore({ client, prefix: "rl", clock });
      const requests = [
        { ...req("{o}:sw", 5, 10_000), algorithm: "sliding_window" as const },
        { ...req("{o}:fw", 5, 10_000), algorithm: "fixed_window" as const },
        { ...req("{o}:tb", 5, 10_000), algorithm: "token_bucket" as const, refillRate: 2 },
        { ...req("{o}:gc", 5, 10_000), algorithm: "gcra" as const, burst: 3 },
        { ...req("{o}:tb2", 5, 10_000), algorithm: "token_bucket" as const },
        { ...req("{o}:gc2", 5, 10_000), algorithm: "gcra" as const },
      ];
      assert.equal((await store.check(requests)).allowed, true);
      const keys = (await client.sendCommand<string[]>(["KEYS", "*"])).sort();
      assert.deepEqual(keys, [
        "rl:fw:{o}::fw",
        "rl:gc:{o}::gc",
        "rl:gc:{o}::gc2",
        "rl:sw:{o}::sw",
        "rl:tb:{o}::tb",
        "rl:tb:{o}::tb2",
      ]);
      for (const key of keys) {
        assert.equal(await client.sendCommand(["TYPE", key]), "hash");
        const ttl = await client.sendCommand<number>(["PTTL", key]);
        assert.ok(ttl > 0 && ttl <= 20_001, `${key} ttl ${ttl}`);
      }
      const page = await store.listCounters({ limit: 10 });
      const listed = Object.fromEntries(page.counters.map((c) => [c.key, c]));
      assert.deepEqual(Object.keys(listed).sort(), keys.map((k) => `{o}:${k.split("::")[1]}`));
      for (const counter of page.counters) {
        assert.equal(counter.limit, 5);
        assert.equal(counter.windowMs, 10_000);
        assert.equal(counter.decision.count, 1);
      }
      // The burst and refill rate in effect are recorded (a default one as the limit).
      assert.equal(listed["{o}:gc"]!.decision.remaining, 2);
      assert.equal(listed["{o}:gc2"]!.decision.remaining, 4);
      // One token comes back every 5 s at 2 per 10 s, every 2 s at the default 5 per 10 s.
      const tbReset = listed["{o}:tb"]!.decision.resetAfterMs;
      assert.ok(tbReset > 3000 && tbReset <= 5000, `${tbReset}`);
      const tb2Reset = listed["{o}:tb2"]!.decision.resetAfterMs;
      assert.ok(tb2Reset > 0 && tb2Reset <= 2000, `${tb2Reset}`);
      assert.equal(await store.reset("{o}:gc"), true);
      assert.equal(await client.sendCommand(["EXISTS", "rl:gc:{o}::gc"]), 0);
    } finally {
      await client.close();
    }
  },
});

Deno.test({
  name: "RedisStore.listCounters() sends a page's peeks in chunks of PEEK_CHUNK at most",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const client = await createRedisClient(redis.url);
    try {
      const store = new RedisStore({ client });
      await store.init();
      await store.checkMany(Array.from({ length: 1000 }, (_, i) => [req(`k${i}`)]));
      // Counts the script calls waiting for their reply at once.
      let outstanding = 0;
      let most = 0;
      const sendCommand = client.sendCommand.bind(client);
      client.sendCommand = ((args: string[], ...rest: unknown[]) => {
        if (args[0] !== "EVALSHA") return sendCommand(args, ...rest as []);
        most = Math.max(most, ++outstanding);
        return sendCommand(args, ...rest as []).finally(() => outstanding--);
      }) as typeof client.sendCommand;
      let listed = 0;
      let cursor: string | undefined;
      do {
        const page = await store.listCounters({ cursor, limit: 1000 });
        listed += page.counters.length;
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      assert.equal(listed, 1000);
      assert.ok(most >= 1 && most <= PEEK_CHUNK, `${most} peeks outstanding at once`);
    } finally {
      await client.close();
    }
  },
});
