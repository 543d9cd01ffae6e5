/**
 * `retry_after_seconds` (and `Retry-After`) round a wait up to whole seconds, never to the
 * nearest: 1,200 ms is 2 s, since a client told 1 s would retry too early and be refused again.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createManualClock } from "../../_helpers/manual_clock.ts";
import { MemoryStore } from "../../../src/store/memory_store.ts";
import { jsonRequest, makeTestApp } from "../../_helpers/app.ts";

/**
 * An app whose store's time stands still at the start of a 1,200 ms fixed window, so a denial
 * waits exactly 1,200 ms.
 */
function frozenApp() {
  const clock = createManualClock(1_200 * 1_416_666_667);
  return makeTestApp({ store: new MemoryStore({ clock, sweepIntervalMs: 0 }) });
}

const CHECK = { key: "r", limit: 1, window_ms: 1200, algorithm: "fixed_window" };

Deno.test("POST /check rounds a 1,200 ms wait up to retry_after_seconds 2 and Retry-After 2", async () => {
  const { app } = frozenApp();
  assert.equal((await app.request("/check", jsonRequest(CHECK))).status, 200);
  const res = await app.request("/check", jsonRequest(CHECK));
  assert.equal(res.status, 429);
  const body = await res.json();
  assert.equal(body.retry_after_ms, 1200);
  assert.equal(body.retry_after_seconds, 2);
  assert.equal(res.headers.get("Retry-After"), "2");
});

Deno.test("GET /check/{key}, POST /check/batch and /api/blocks round a 1,200 ms wait up to 2 s", async () => {
  const { app } = frozenApp();
  assert.equal((await app.request("/check", jsonRequest(CHECK))).status, 200);
  const peek = await app.request("/check/r?limit=1&window_ms=1200&algorithm=fixed_window");
  assert.equal(peek.status, 429);
  assert.equal((await peek.json()).retry_after_seconds, 2);
  assert.equal(peek.headers.get("Retry-After"), "2");
  const batch = await app.request("/check/batch", jsonRequest({ checks: [CHECK] }));
  const [result] = (await batch.json()).results;
  assert.deepEqual([result.status, result.retry_after_ms, result.retry_after_seconds], [
    429,
    1200,
    2,
  ]);
  const blocks = await (await app.request("/api/blocks")).json();
  assert.deepEqual(
    blocks.blocked.map((b: Record<string, unknown>) => [b.key, b.retry_after_seconds]),
    [["r", 2]],
  );
});
