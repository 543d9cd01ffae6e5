/** `withRateLimit()` around a plain fetch handler served by `Deno.serve`, in front of a real node. */
import assert from "node:assert/strict";
import { withRateLimit } from "../../src/middleware/fetch.ts";
import { startNode } from "../_helpers/node_process.ts";
import { freePort } from "../_helpers/redis_server.ts";
import { integration } from "../_helpers/options.ts";

Deno.test({
  ...integration,
  name: "withRateLimit() serves allowed requests with headers and answers 429 when denied",
  async fn() {
    await using node = await startNode();
    let served = 0;
    const handler = withRateLimit((_request: Request) => {
      served++;
      return new Response("hello");
    }, {
      url: node.url,
      key: (request) => `fetch:${new URL(request.url).searchParams.get("user")}`,
      limit: 1,
      window_ms: 60_000,
    });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
    try {
      const url = `http://127.0.0.1:${server.addr.port}/?user=a`;
      const ok = await fetch(url);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), "hello");
      assert.equal(ok.headers.get("X-RateLimit-Limit"), "1");
      assert.equal(ok.headers.get("X-RateLimit-Remaining"), "0");
      const denied = await fetch(url);
      assert.equal(denied.status, 429);
      assert.equal((await denied.json()).error.code, "rate_limited");
      assert.ok(Number(denied.headers.get("Retry-After")) >= 1);
      assert.equal(served, 1);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test("withRateLimit() with the service down calls the handler or answers 503", async () => {
  const url = `http://127.0.0.1:${freePort()}`; // nothing listens there
  const handler = () => Response.json({ served: true });
  const open = withRateLimit(handler, { url, key: () => "k" });
  const passed = await open(new Request("http://app/"));
  assert.deepEqual(await passed.json(), { served: true });
  const closed = withRateLimit(handler, { url, key: () => "k", onUnavailable: "closed" });
  const refused = await closed(new Request("http://app/"));
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("Retry-After"), "1");
  assert.equal((await refused.json()).error.code, "rate_limiter_unavailable");
});
