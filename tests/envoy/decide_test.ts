import assert from "node:assert/strict";
import { decideLimits, type PlannedLimit } from "../../src/envoy/decide.ts";
import type { LimitRequest } from "../../src/limiter/types.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/types.ts";

const limit = (key: string, max: number, cost = 1): LimitRequest => ({
  key,
  algorithm: "fixed_window",
  limit: max,
  windowMs: 3_600_000,
  cost,
});

/** Counts the store calls a decision makes. */
function counting(store: Store) {
  const calls: string[] = [];
  return {
    calls,
    store: {
      ...store,
      check: (r: LimitRequest[]) => (calls.push("check"), store.check(r)),
      checkMany: (
        g: LimitRequest[][],
      ) => (calls.push(`checkMany(${g.length})`), store.checkMany(g)),
    } as Store,
  };
}

Deno.test("decideLimits: one store.check for the enforced limits, atomic", async () => {
  const memory = new MemoryStore({});
  const { store, calls } = counting(memory);
  const a = { request: limit("a", 5), together: true };
  const b = { request: limit("b", 1), together: true };
  assert.equal((await decideLimits(store, [a, b])).allowed, true);
  const denied = await decideLimits(store, [a, b]);
  assert.equal(denied.allowed, false);
  assert.equal(denied.decisions[0]!.allowed, true);
  assert.equal(denied.decisions[1]!.allowed, false);
  assert.deepEqual(calls, ["check", "check"]);
  // `a` was consumed once only.
  const look = await memory.check([limit("a", 5, 0)]);
  assert.equal(look.decisions[0]!.remaining, 4);
});

Deno.test("decideLimits: shadow and look-only limits apart, still one store call", async () => {
  const memory = new MemoryStore({});
  const { store, calls } = counting(memory);
  await memory.check([limit("full", 1)]);
  const out = await decideLimits(store, [
    { request: limit("shadow", 1), together: false },
    { request: limit("x", 5), together: true },
    { request: limit("full", 1, 0), together: false },
  ]);
  assert.deepEqual(calls, ["checkMany(3)"]);
  assert.equal(out.allowed, true);
  assert.equal(out.decisions[1]!.remaining, 4);
  assert.equal(out.decisions[0]!.remaining, 0);
  // A full counter merely looked at never blocks the enforced group.
  assert.equal(out.decisions[2]!.allowed, false);
});

Deno.test("decideLimits: the same counter twice in a request consumes both, atomically", async () => {
  const memory = new MemoryStore({});
  const twice = [
    { request: limit("same", 3), together: true },
    { request: limit("same", 3), together: true },
  ];
  const first = await decideLimits(memory, twice);
  assert.equal(first.allowed, true);
  assert.equal(first.decisions[0]!.remaining, 1);
  assert.equal(first.decisions[1], first.decisions[0]);
  // 2 more do not fit in the 1 left: nothing consumed.
  assert.equal((await decideLimits(memory, twice)).allowed, false);
  assert.equal((await memory.check([limit("same", 3, 0)])).decisions[0]!.remaining, 1);
  assert.deepEqual(await decideLimits(memory, []), {
    decisions: [],
    allowed: true,
    degraded: undefined,
  });
});

Deno.test("decideLimits: enforced limits of different scopes are atomic per scope, in one call", async () => {
  const memory = new MemoryStore();
  const calls: LimitRequest[][][] = [];
  const store = {
    check: (group: LimitRequest[]) => memory.check(group),
    checkMany: (groups: LimitRequest[][]) => {
      calls.push(groups);
      return memory.checkMany(groups);
    },
  } as unknown as Store;
  const limit = (key: string, limit: number): PlannedLimit => ({
    request: { key, algorithm: "fixed_window", limit, windowMs: 60_000, cost: 1 },
    together: true,
  });
  // "{t}:a" and "{t}:b" share the tag t; "c" is a scope of its own.
  const scope = (key: string) => key.startsWith("{t}") ? "t" : key;
  const plan = [limit("{t}:a", 5), limit("c", 1), limit("{t}:b", 5)];
  const first = await decideLimits(store, plan, scope);
  assert.equal(first.allowed, true);
  assert.deepEqual(calls[0]!.map((g) => g.map((r) => r.key)), [["{t}:a", "{t}:b"], ["c"]]);
  // "c" is now full: the request is denied, and the other scope still consumed (not atomic across).
  const second = await decideLimits(store, plan, scope);
  assert.equal(second.allowed, false);
  assert.deepEqual(second.decisions.map((d) => d.allowed), [true, false, true]);
  assert.deepEqual(second.decisions.map((d) => d.count), [2, 1, 2]);
});
