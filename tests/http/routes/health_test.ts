import assert from "node:assert/strict";
import type { Store } from "../../../src/store/types.ts";
import { MemoryStore } from "../../../src/store/memory_store.ts";
import { StoreUnavailableError } from "../../../src/errors.ts";
import { jsonRequest, makeTestApp } from "../../_helpers/app.ts";

/** A memory store whose backend can be switched off, as if Redis were down. */
function flakyStore(): Store & { up: boolean } {
  const inner = new MemoryStore({ sweepIntervalMs: 0 });
  const store = Object.create(inner) as Store & { up: boolean };
  store.up = true;
  const fail = () => Promise.reject(new StoreUnavailableError("Redis did not answer: down"));
  store.ping = () => store.up ? inner.ping() : fail();
  store.check = (r) => store.up ? inner.check(r) : fail();
  store.status = () => store.up ? "up" : "down";
  return store;
}

Deno.test("GET /health answers 200, status healthy, with the node id and store status", async () => {
  const { app } = makeTestApp({ env: { RATELIMITER_NODE_ID: "n-7" } });
  const res = await app.request("/health");
  assert.equal(res.status, 200);
  const body = await res.json();
  // The original service's clients compare against exactly this value.
  assert.equal(body.status, "healthy");
  assert.equal(typeof body.version, "string");
  assert.equal(body.node_id, "n-7");
  assert.deepEqual(body.store, { kind: "memory", status: "up" });
});

Deno.test("GET /ready follows the store: 200 while it answers, 503 while it does not", async () => {
  const store = flakyStore();
  const { app } = makeTestApp({ store });
  assert.equal((await app.request("/ready")).status, 200);
  store.up = false;
  const down = await app.request("/ready");
  assert.equal(down.status, 503);
  assert.equal((await down.json()).ready, false);
  assert.equal((await app.request("/health")).status, 200);
  store.up = true;
  assert.equal((await app.request("/ready")).status, 200);
});

Deno.test("POST /check answers 503 with a JSON error while the store is down", async () => {
  const store = flakyStore();
  const { app, metrics } = makeTestApp({ store });
  store.up = false;
  const res = await app.request("/check", jsonRequest({ key: "k" }));
  assert.equal(res.status, 503);
  assert.equal((await res.json()).error.code, "store_unavailable");
  assert.match(
    await metrics.render(),
    /ratelimiter_store_errors_total\{kind="unavailable",node_id="test-8000"\} 1/,
  );
});
