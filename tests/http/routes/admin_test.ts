import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../../src/errors.ts";
import type { ClusterEvent } from "../../../src/cluster/events.ts";
import { MemoryEvents } from "../../../src/cluster/memory_events.ts";
import { MemoryOverrideStore } from "../../../src/cluster/memory_override_store.ts";
import { MemoryRegistry } from "../../../src/cluster/memory_registry.ts";
import { NodeRegistry } from "../../../src/cluster/node_registry.ts";
import { MemoryStore } from "../../../src/store/memory_store.ts";
import { jsonRequest, makeTestApp } from "../../_helpers/app.ts";

type Json = Record<string, unknown>;
type App = ReturnType<typeof makeTestApp>["app"];

function put(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return jsonRequest(body, {
    method: "PUT",
    headers: { "content-type": "application/json", ...headers },
  });
}

async function call(
  app: App,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: Json }> {
  const res = await app.request(path, init);
  return { status: res.status, body: await res.json() };
}

async function check(app: App, key: string, limit?: number, window_ms?: number) {
  return await call(app, "/check", jsonRequest({ key, limit, window_ms }));
}

const enc = encodeURIComponent;

Deno.test("GET /api/nodes lists this node, Up, with the documented fields", async () => {
  const registry = new NodeRegistry({
    backend: new MemoryRegistry(),
    id: "node-a",
    address: "10.1.2.3:8000",
    ttlSeconds: 30,
    heartbeatSeconds: 10,
    autoHeartbeat: false,
  });
  await registry.start();
  const { app } = makeTestApp({ registry });
  const { status, body } = await call(app, "/api/nodes");
  assert.equal(status, 200);
  const nodes = body.nodes as Json[];
  assert.equal(nodes.length, 1);
  const node = nodes[0]!;
  assert.equal(node.id, "node-a");
  assert.equal(node.address, "10.1.2.3:8000");
  assert.equal(node.state, "Up");
  assert.equal(node.self, true);
  for (const field of ["registered_at", "last_heartbeat_at"]) {
    assert.match(String(node[field]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  await registry.stop();
});

Deno.test("PUT, GET and DELETE /api/limits manage overrides with the documented shapes", async () => {
  const { app } = makeTestApp({
    env: { RATELIMITER_DEFAULT_LIMIT: "7", RATELIMITER_DEFAULT_WINDOW_MS: "7000" },
  });
  const empty = await call(app, "/api/limits");
  assert.deepEqual(empty, {
    status: 200,
    body: {
      default_limit: 7,
      default_window_ms: 7000,
      default_algorithm: "sliding_log",
      overrides: [],
    },
  });
  const created = await call(app, "/api/limits/user%3A1", put({ limit: 3, window_ms: 1000 }));
  assert.equal(created.status, 200);
  assert.equal(created.body.key, "user:1");
  assert.equal(created.body.limit, 3);
  assert.equal(created.body.window_ms, 1000);
  assert.equal(created.body.updated, true);
  assert.equal(created.body.created, true);
  assert.equal(created.body.algorithm, null);
  const replaced = await call(
    app,
    "/api/limits/user:1",
    put({ limit: 4, algorithm: "sliding_log" }),
  );
  assert.equal(replaced.body.created, false);
  assert.equal(replaced.body.window_ms, 7000, "window_ms defaults to the default window");
  assert.equal(replaced.body.algorithm, "sliding_log");
  await call(app, "/api/limits/a", put({ limit: 1 }));
  const listed = await call(app, "/api/limits");
  const overrides = listed.body.overrides as Json[];
  assert.deepEqual(overrides.map((o) => [o.key, o.limit, o.window_ms]), [
    ["a", 1, 7000],
    ["user:1", 4, 7000],
  ]);
  assert.deepEqual(
    ((await call(app, "/api/limits?prefix=user")).body.overrides as Json[]).map((o) => o.key),
    ["user:1"],
  );
  const one = await call(app, "/api/limits/a");
  assert.equal(one.status, 200);
  assert.equal(one.body.limit, 1);
  const deleted = await call(app, "/api/limits/a", { method: "DELETE" });
  assert.deepEqual(deleted, { status: 200, body: { key: "a", deleted: true } });
  const again = await call(app, "/api/limits/a", { method: "DELETE" });
  assert.equal(again.status, 404);
  assert.equal((again.body.error as Json).code, "not_found");
  assert.equal((await call(app, "/api/limits/a")).status, 404);
});

const BAD_PUTS: [string, string, RequestInit, number][] = [
  ["limit 0", "/api/limits/k", put({ limit: 0 }), 400],
  ["limit past 1,000,000", "/api/limits/k", put({ limit: 1_000_001 }), 400],
  ["a fractional limit", "/api/limits/k", put({ limit: 1.5 }), 400],
  ["a string limit", "/api/limits/k", put({ limit: "5" }), 400],
  ["no limit", "/api/limits/k", put({ window_ms: 5 }), 400],
  ["a null limit (required)", "/api/limits/k", put({ limit: null, window_ms: 5 }), 400],
  ["window 0", "/api/limits/k", put({ limit: 1, window_ms: 0 }), 400],
  ["a window past 30 days", "/api/limits/k", put({ limit: 1, window_ms: 2_592_000_001 }), 400],
  ["an unknown algorithm", "/api/limits/k", put({ limit: 1, algorithm: "magic" }), 400],
  ["an unknown field", "/api/limits/k", put({ limit: 1, zz: 2 }), 400],
  ["burst without gcra", "/api/limits/k", put({ limit: 1, burst: 2 }), 400],
  [
    "refill_rate with gcra",
    "/api/limits/k",
    put({ limit: 1, algorithm: "gcra", refill_rate: 2 }),
    400,
  ],
  ["burst 0", "/api/limits/k", put({ limit: 1, algorithm: "gcra", burst: 0 }), 400],
  ["a JSON array", "/api/limits/k", put([1]), 400],
  ["bad JSON", "/api/limits/k", put("{nope"), 400],
  ["no content type", "/api/limits/k", { method: "PUT", body: '{"limit":1}' }, 415],
  ["a malformed escape in the key", "/api/limits/%E0%A4%A", put({ limit: 1 }), 400],
  ["a lone surrogate in the key", "/api/limits/%ED%A0%80", put({ limit: 1 }), 400],
  ["a NUL in the key", "/api/limits/a%00b", put({ limit: 1 }), 400],
  ["a key over 512 bytes", `/api/limits/${"x".repeat(513)}`, put({ limit: 1 }), 400],
  ["an unknown query parameter", "/api/limits/k?force=1", put({ limit: 1 }), 400],
];

Deno.test("PUT /api/limits/{key} reads null in an optional field as absent", async () => {
  const { app } = makeTestApp({ env: { RATELIMITER_DEFAULT_WINDOW_MS: "7000" } });
  // Exactly what the original's observer sends from update_limit(key, limit).
  const res = await call(app, "/api/limits/k", put({ limit: 7, window_ms: null }));
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.limit, 7);
  assert.equal(res.body.window_ms, 7000);
  const all = await call(
    app,
    "/api/limits/g",
    put({ limit: 2, window_ms: null, algorithm: null, burst: null, refill_rate: null }),
  );
  assert.equal(all.status, 200, JSON.stringify(all.body));
  assert.deepEqual([all.body.window_ms, all.body.algorithm, all.body.burst], [7000, null, null]);
});

Deno.test("PUT /api/limits/{key} rejects bad input with a JSON error and stores nothing", async (t) => {
  const { app } = makeTestApp();
  for (const [name, path, init, status] of BAD_PUTS) {
    await t.step(name, async () => {
      const res = await call(app, path, init);
      assert.equal(res.status, status, JSON.stringify(res.body));
      const error = res.body.error as Json;
      assert.equal(typeof error.code, "string");
      assert.equal(typeof error.message, "string");
    });
  }
  assert.deepEqual((await call(app, "/api/limits")).body.overrides, []);
});

Deno.test("PUT /api/limits/{key} answers 409 once the override cap is reached", async () => {
  const { app } = makeTestApp({ overrideStore: new MemoryOverrideStore({ maxOverrides: 1 }) });
  assert.equal((await call(app, "/api/limits/a", put({ limit: 1 }))).status, 200);
  const full = await call(app, "/api/limits/b", put({ limit: 1 }));
  assert.equal(full.status, 409);
  assert.equal((full.body.error as Json).code, "too_many_overrides");
  assert.equal((await call(app, "/api/limits/a", put({ limit: 2 }))).status, 200);
});

Deno.test("an override decides /check over the request's own values; DELETE restores them", async () => {
  const { app } = makeTestApp();
  await call(app, "/api/limits/vip", put({ limit: 2, window_ms: 60_000 }));
  const answers = [];
  for (let i = 0; i < 3; i++) answers.push(await check(app, "vip", 50, 1000));
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 429]);
  assert.equal(answers[0]!.body.limit, 2);
  assert.equal(answers[0]!.body.window_ms, 60_000);
  await call(app, "/api/limits/vip", { method: "DELETE" });
  const after = await check(app, "vip", 50, 1000);
  assert.equal(after.status, 200);
  assert.equal(after.body.limit, 50);
  assert.equal(after.body.window_ms, 1000);
});

const ODD_KEYS = [
  "a/b/c",
  "x:y:z",
  "with space",
  "{tenant42}:ip",
  "}{",
  "{}",
  "日本語のキー",
  "emoji 🎉",
  "100%",
  "%41",
  "?q=1&r#frag",
  "+plus+",
];

Deno.test("keys with /, :, spaces, braces and non-ASCII text round-trip through every endpoint", async (t) => {
  const events = new MemoryEvents();
  const seen: ClusterEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const { app } = makeTestApp({ events });
  for (const key of ODD_KEYS) {
    await t.step(JSON.stringify(key), async () => {
      const path = `/api/limits/${enc(key)}`;
      const set = await call(app, path, put({ limit: 1, window_ms: 60_000 }));
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.equal(set.body.key, key);
      assert.equal((await call(app, path)).body.key, key);
      const listed = (await call(app, `/api/limits?prefix=${enc(key)}`)).body.overrides as Json[];
      assert.deepEqual(listed.map((o) => o.key), [key]);
      assert.equal((await check(app, key)).status, 200);
      assert.equal((await check(app, key)).status, 429);
      const counters = (await call(app, `/api/counters?prefix=${enc(key)}`)).body
        .counters as Json[];
      assert.deepEqual(counters.map((c) => [c.key, c.count, c.blocked]), [[key, 1, true]]);
      const blocks = (await call(app, `/api/blocks?prefix=${enc(key)}`)).body.blocked as Json[];
      assert.deepEqual(blocks.map((b) => b.key), [key]);
      const reset = await call(app, `/api/counters/${enc(key)}/reset`, { method: "POST" });
      assert.deepEqual(reset.body, { key, reset: true });
      assert.equal((await check(app, key)).status, 200);
      const deleted = await call(app, path, { method: "DELETE" });
      assert.deepEqual(deleted.body, { key, deleted: true });
    });
  }
  const forKeys = (type: string) => seen.filter((e) => e.type === type).map((e) => e.key);
  assert.deepEqual(forKeys("override_changed"), ODD_KEYS.flatMap((k) => [k, k]));
  assert.deepEqual(forKeys("counter_reset"), ODD_KEYS);
});

Deno.test("GET /api/counters and /api/blocks agree with what /check returned", async () => {
  const { app } = makeTestApp();
  // "full" reaches its limit, "half" is below it, "over" is blocked by a smaller override.
  for (let i = 0; i < 3; i++) await check(app, "full", 3, 60_000);
  await check(app, "half", 4, 60_000);
  const last = await check(app, "half", 4, 60_000);
  for (let i = 0; i < 3; i++) await check(app, "over", 10, 60_000);
  await call(app, "/api/limits/over", put({ limit: 2, window_ms: 30_000 }));
  const denied = await check(app, "full", 3, 60_000);
  assert.equal(denied.status, 429);

  const counters = (await call(app, "/api/counters")).body;
  assert.equal(counters.next_cursor, null);
  const byKey = Object.fromEntries((counters.counters as Json[]).map((c) => [c.key, c]));
  assert.deepEqual(Object.keys(byKey).sort(), ["full", "half", "over"]);
  assert.equal(byKey.half!.count, last.body.current_count);
  assert.equal(byKey.half!.remaining, last.body.remaining);
  assert.equal(byKey.half!.limit, 4);
  assert.equal(byKey.half!.blocked, false);
  assert.equal(byKey.full!.count, 3);
  assert.equal(byKey.full!.remaining, 0);
  assert.equal(byKey.full!.blocked, true);
  assert.equal(byKey.full!.override, false);
  // The override's limit and window apply, not the ones the key was counted under.
  assert.equal(byKey.over!.limit, 2);
  assert.equal(byKey.over!.window_ms, 30_000);
  assert.equal(byKey.over!.count, 3);
  assert.equal(byKey.over!.remaining, 0);
  assert.equal(byKey.over!.override, true);

  const blocks = (await call(app, "/api/blocks")).body;
  const blocked = blocks.blocked as Json[];
  assert.deepEqual(blocked.map((b) => b.key).sort(), ["full", "over"]);
  const full = blocked.find((b) => b.key === "full")!;
  assert.equal(full.current_count, 3);
  assert.equal(full.limit, 3);
  assert.equal(full.retry_after_seconds, denied.body.retry_after_seconds);
  assert.equal(blocks.next_cursor, null);
});

Deno.test("POST /api/counters/{key}/reset starts the key from zero and says whether it existed", async () => {
  const { app } = makeTestApp();
  await check(app, "k", 1);
  assert.equal((await check(app, "k", 1)).status, 429);
  assert.deepEqual((await call(app, "/api/counters/k/reset", { method: "POST" })).body, {
    key: "k",
    reset: true,
  });
  const next = await check(app, "k", 1);
  assert.equal(next.status, 200);
  assert.equal(next.body.current_count, 1);
  await call(app, "/api/counters/k/reset", { method: "POST" });
  assert.deepEqual((await call(app, "/api/counters/k/reset", { method: "POST" })).body, {
    key: "k",
    reset: false,
  });
});

Deno.test("GET /api/counters pages through 5,000 keys, each exactly once", async () => {
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  const { app } = makeTestApp({ store });
  for (let i = 0; i < 5000; i++) {
    await store.check([{
      key: `user:${i}`,
      algorithm: "sliding_log",
      limit: 5,
      windowMs: 60_000,
      cost: 1,
    }]);
  }
  await store.check([{
    key: "other",
    algorithm: "sliding_log",
    limit: 5,
    windowMs: 60_000,
    cost: 1,
  }]);
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: string = cursor === null ? "" : `&cursor=${enc(cursor)}`;
    const { status, body } = await call(app, `/api/counters?prefix=user%3A&limit=1000${query}`);
    assert.equal(status, 200);
    const counters = body.counters as Json[];
    assert.ok(counters.length <= 1000);
    seen.push(...counters.map((c) => String(c.key)));
    cursor = body.next_cursor as string | null;
    pages++;
  } while (cursor !== null && pages < 100);
  assert.equal(seen.length, 5000);
  assert.equal(new Set(seen).size, 5000);
  const first = await call(app, "/api/counters");
  assert.equal((first.body.counters as Json[]).length, 100, "the default page size is 100");
});

Deno.test("GET /api/counters and /api/blocks on the embedded store do bounded work per page", async () => {
  const store = new MemoryStore({ sweepIntervalMs: 0 });
  const { app } = makeTestApp({ store });
  for (let first = 0; first < 20_000; first += 1000) {
    await store.checkMany(Array.from({ length: 1000 }, (_, i) => [{
      key: `user:${first + i}`,
      algorithm: "sliding_log" as const,
      limit: 5,
      windowMs: 60_000,
      cost: 1,
    }]));
  }
  // A prefix matching nothing: a page stops after limit × 10 keys, empty, with a cursor to follow.
  let steps = store.listSteps;
  const counters = await call(app, "/api/counters?prefix=nobody%3A&limit=10");
  assert.equal(counters.status, 200);
  assert.deepEqual(counters.body.counters, []);
  assert.notEqual(counters.body.next_cursor, null);
  assert.ok(store.listSteps - steps <= 100, `${store.listSteps - steps} keys examined`);
  // /api/blocks looks through at most 10 such store pages.
  steps = store.listSteps;
  const blocks = await call(app, "/api/blocks?prefix=nobody%3A&limit=10");
  assert.equal(blocks.status, 200);
  assert.deepEqual(blocks.body.blocked, []);
  assert.notEqual(blocks.body.next_cursor, null);
  assert.ok(store.listSteps - steps <= 1000, `${store.listSteps - steps} keys examined`);
});

const BAD_PAGES: [string, string, string][] = [
  ["limit 0", "/api/counters?limit=0", "invalid_request"],
  ["limit 1001", "/api/counters?limit=1001", "invalid_request"],
  ["a word limit", "/api/blocks?limit=ten", "invalid_request"],
  ["a negative limit", "/api/counters?limit=-5", "invalid_request"],
  ["a garbage cursor", "/api/counters?cursor=abc", "invalid_cursor"],
  ["a Redis cursor on the embedded store", "/api/blocks?cursor=12-3", "invalid_cursor"],
  ["a repeated known parameter", "/api/counters?limit=1&limit=2", "invalid_request"],
  ["a NUL prefix", "/api/counters?prefix=%00", "invalid_query"],
  ["a bad value beside an unknown parameter", "/api/blocks?limit=0&page=2", "invalid_request"],
];

Deno.test("GET routes of /api ignore unknown query parameters (changed by issue 11)", async () => {
  // Unknown parameters on GET used to be a 400; like the original service, they are ignored now.
  const { app } = makeTestApp();
  await call(app, "/api/limits/a", put({ limit: 1 }));
  for (
    const path of [
      "/api/nodes?all=1",
      "/api/limits?page=2&_=1&_=2",
      "/api/limits/a?verbose=true",
      "/api/counters?page=2",
      "/api/blocks?page=2&limit=5",
    ]
  ) {
    const { status, body } = await call(app, path);
    assert.equal(status, 200, `${path}: ${JSON.stringify(body)}`);
  }
  // The routes that change state still reject them.
  assert.equal((await call(app, "/api/limits/a?force=1", { method: "DELETE" })).status, 400);
  assert.equal((await call(app, "/api/counters/a/reset?x=1", { method: "POST" })).status, 400);
});

Deno.test("GET /api/counters and /api/blocks reject bad paging parameters", async (t) => {
  const { app } = makeTestApp();
  for (const [name, path, code] of BAD_PAGES) {
    await t.step(name, async () => {
      const { status, body } = await call(app, path);
      assert.equal(status, 400);
      assert.equal((body.error as Json).code, code);
    });
  }
});

/** A store whose counter calls fail as if Redis were down. */
class DownStore extends MemoryStore {
  override listCounters(): never {
    throw new StoreUnavailableError("Redis did not answer: connection refused");
  }
  override reset(): Promise<boolean> {
    return Promise.reject(new StoreUnavailableError("Redis did not answer: connection refused"));
  }
}

/** An override store whose writes fail as if Redis were down. */
class DownOverrides extends MemoryOverrideStore {
  override set(): Promise<never> {
    return Promise.reject(new StoreUnavailableError("Redis did not answer"));
  }
  override list(): Promise<never> {
    return Promise.reject(new StoreUnavailableError("Redis did not answer"));
  }
}

Deno.test("management calls answer 503 store_unavailable while the store is down", async () => {
  const { app } = makeTestApp({
    store: new DownStore({ sweepIntervalMs: 0 }),
    overrideStore: new DownOverrides(),
  });
  for (
    const [path, init] of [
      ["/api/counters", undefined],
      ["/api/blocks", undefined],
      ["/api/counters/k/reset", { method: "POST" }],
      ["/api/limits", undefined],
      ["/api/limits/k", put({ limit: 1 })],
    ] as [string, RequestInit | undefined][]
  ) {
    const res = await app.request(path, init);
    assert.equal(res.status, 503, path);
    assert.equal((await res.json()).error.code, "store_unavailable");
    assert.equal(res.headers.get("Retry-After"), "1");
  }
});

Deno.test("wrong methods on /api routes get 405 with Allow", async () => {
  const { app } = makeTestApp();
  const res = await app.request("/api/limits/k", { method: "PATCH" });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("Allow"), "DELETE, GET, HEAD, PUT");
  const reset = await app.request("/api/counters/k/reset", { method: "GET" });
  assert.equal(reset.status, 405);
  assert.equal(reset.headers.get("Allow"), "POST");
});

Deno.test("PUT /api/limits/{key} stores an algorithm's parameters and /check applies them", async () => {
  const { app } = makeTestApp();
  const set = await call(
    app,
    "/api/limits/g",
    put({ limit: 1, window_ms: 60_000, algorithm: "gcra", burst: 3 }),
  );
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.equal(set.body.burst, 3);
  assert.equal(set.body.refill_rate, null);
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await app.request("/check", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: "g", limit: 1000, algorithm: "gcra", burst: 1000 }),
    });
    statuses.push(res.status);
  }
  // One per minute with a burst of 3: the override's parameters, not the client's.
  assert.deepEqual(statuses, [200, 200, 200, 429]);
  const listed = await call(app, "/api/limits");
  const entry = (listed.body.overrides as Json[]).find((o) => o.key === "g")!;
  assert.equal(entry.burst, 3);
});
