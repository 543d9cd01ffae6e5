/** `rateLimit()` in a Hono app in front of a real node (embedded store). */
import assert from "node:assert/strict";
import { type Context, Hono } from "hono";
import { rateLimit } from "../../src/middleware/hono.ts";
import { createClient } from "../../src/client/mod.ts";
import { startNode } from "../_helpers/node_process.ts";
import { freePort } from "../_helpers/redis_server.ts";
import { integration } from "../_helpers/options.ts";

Deno.test({
  ...integration,
  name: "rateLimit() lets allowed requests through with headers and answers 429 when denied",
  async fn(t) {
    await using node = await startNode();
    let served = 0;
    const app = new Hono();
    app.use(
      "/api/*",
      rateLimit({
        url: node.url,
        key: (c) => `hono:${c.req.header("x-user") ?? "anonymous"}`,
        limit: 3,
        window_ms: 60_000,
        cost: (c) => Number(c.req.header("x-cost") ?? 1),
      }),
    );
    app.get("/api/hello", (c) => {
      served++;
      return c.json({ hello: "world" });
    });
    // A handler's own Response (not built by the context) gets the headers too.
    app.get("/api/raw", () => new Response("raw"));
    // Response.redirect() has immutable headers.
    app.get("/api/redirect", () => Response.redirect("http://example.com/", 302));

    await t.step("allowed: the handler answers, with the rate-limit headers", async () => {
      const res = await app.request("/api/hello", { headers: { "x-user": "a" } });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { hello: "world" });
      assert.equal(res.headers.get("X-RateLimit-Limit"), "3");
      assert.equal(res.headers.get("X-RateLimit-Remaining"), "2");
      assert.equal(res.headers.get("RateLimit-Policy"), '"default";q=3;w=60');
      assert.equal(res.headers.get("Retry-After"), null);
      const raw = await app.request("/api/raw", { headers: { "x-user": "a" } });
      assert.equal(await raw.text(), "raw");
      assert.equal(raw.headers.get("X-RateLimit-Remaining"), "1");
      const redirect = await app.request("/api/redirect", { headers: { "x-user": "r" } });
      assert.equal(redirect.status, 302);
      assert.equal(redirect.headers.get("X-RateLimit-Remaining"), "2");
    });

    await t.step("denied: 429 JSON with Retry-After, the handler not called", async () => {
      const before = served;
      const res = await app.request("/api/hello", { headers: { "x-user": "a", "x-cost": "2" } });
      assert.equal(res.status, 429);
      const body = await res.json();
      assert.equal(body.error.code, "rate_limited");
      assert.equal(body.error.details.limit, 3);
      assert.ok(Number(res.headers.get("Retry-After")) >= 1);
      assert.equal(res.headers.get("X-RateLimit-Remaining"), "1");
      assert.equal(served, before);
      // The cost that fits still goes through: a denied request consumed nothing.
      const ok = await app.request("/api/hello", { headers: { "x-user": "a" } });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get("X-RateLimit-Remaining"), "0");
    });

    await t.step("with a client: another key has its own limit", async () => {
      const other = new Hono();
      other.use(rateLimit({ client: createClient({ url: node.url }), key: () => "hono:b" }));
      other.get("/", (c) => c.text("ok"));
      const res = await other.request("/");
      assert.equal(res.status, 200);
      assert.ok(res.headers.has("X-RateLimit-Limit"));
    });
  },
});

Deno.test("rateLimit() with the service down lets through or answers 503 per onUnavailable", async () => {
  const url = `http://127.0.0.1:${freePort()}`; // nothing listens there
  const open = new Hono();
  open.use(rateLimit({ url, key: () => "k" }));
  open.get("/", (c) => c.text("served"));
  const passed = await open.request("/");
  assert.equal(passed.status, 200);
  assert.equal(await passed.text(), "served");
  assert.equal(passed.headers.get("X-RateLimit-Limit"), null);

  const closed = new Hono();
  closed.use(rateLimit({ url, key: () => "k", onUnavailable: "closed" }));
  closed.get("/", (c) => c.text("served"));
  const refused = await closed.request("/");
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("Retry-After"), "1");
  const body = await refused.json();
  assert.deepEqual(body.error.code, "rate_limiter_unavailable");
  assert.deepEqual(body.error.details, { reason: "network" });
});

Deno.test("rateLimit() refuses options without exactly one of client or url", () => {
  assert.throws(() => rateLimit({ key: () => "k" }), TypeError);
  assert.throws(
    () => rateLimit({ url: "http://x", client: createClient({ url: "http://x" }), key: () => "k" }),
    TypeError,
  );
});

Deno.test("rateLimit() type-checks with Hono's typed context", () => {
  type Env = { Variables: { user: string } };
  const app = new Hono<Env>();
  app.use(async (c, next) => {
    c.set("user", "u1");
    await next();
  });
  app.use(rateLimit({ url: "http://127.0.0.1:1", key: (c: Context<Env>) => c.get("user") }));
  app.use(rateLimit({ url: "http://127.0.0.1:1", key: (c) => String(c.get("user")) }));
  assert.ok(app);
});
