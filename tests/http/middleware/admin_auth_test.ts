import assert from "node:assert/strict";
import { timingSafeEqual } from "../../../src/http/middleware/admin_auth.ts";
import { jsonRequest, makeTestApp } from "../../_helpers/app.ts";

const TOKEN = "s3cret-token-0123456789";
type App = ReturnType<typeof makeTestApp>["app"];
/** The `WWW-Authenticate` challenge of every refusal, before any error code. */
const CHALLENGE = 'Bearer realm="ratelimiter"';

function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** Each state-changing endpoint, with how to call it and how to see whether it changed state. */
const WRITES: {
  name: string;
  setup: (app: App) => Promise<unknown>;
  call: (app: App, headers: Record<string, string>) => Promise<Response>;
  changed: (app: App) => Promise<boolean>;
}[] = [
  {
    name: "PUT /api/limits/{key}",
    setup: () => Promise.resolve(),
    call: async (app, headers) =>
      await app.request("/api/limits/k", {
        method: "PUT",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ limit: 5 }),
      }),
    changed: async (app) =>
      (await (await app.request("/api/limits", { headers: bearer(TOKEN) })).json()).overrides
        .length === 1,
  },
  {
    name: "DELETE /api/limits/{key}",
    setup: async (app) =>
      await app.request("/api/limits/k", {
        method: "PUT",
        headers: { "content-type": "application/json", ...bearer(TOKEN) },
        body: JSON.stringify({ limit: 5 }),
      }),
    call: async (app, headers) => await app.request("/api/limits/k", { method: "DELETE", headers }),
    changed: async (app) =>
      (await (await app.request("/api/limits", { headers: bearer(TOKEN) })).json()).overrides
        .length === 0,
  },
  {
    name: "POST /api/counters/{key}/reset",
    setup: async (app) => await app.request("/check", jsonRequest({ key: "k", limit: 5 })),
    call: async (app, headers) =>
      await app.request("/api/counters/k/reset", { method: "POST", headers }),
    changed: async (app) =>
      (await (await app.request("/api/counters", { headers: bearer(TOKEN) })).json()).counters
        .length === 0,
  },
];

Deno.test("state-changing /api calls need the bearer token: none, wrong, right", async (t) => {
  for (const write of WRITES) {
    for (
      const [label, headers, status] of [
        ["no token", {}, 401],
        ["a wrong token", bearer("wrong-token-0123456789"), 401],
        ["the token with a suffix", bearer(TOKEN + "x"), 401],
        ["a prefix of the token", bearer(TOKEN.slice(0, -1)), 401],
        ["Basic auth", { authorization: `Basic ${btoa(`admin:${TOKEN}`)}` }, 401],
        ["the right token", bearer(TOKEN), 200],
        ["the right token, lower-case scheme", { authorization: `bearer ${TOKEN}` }, 200],
      ] as [string, Record<string, string>, number][]
    ) {
      await t.step(`${write.name} with ${label}`, async () => {
        const { app } = makeTestApp({ env: { RATELIMITER_ADMIN_TOKEN: TOKEN } });
        await write.setup(app);
        const res = await write.call(app, headers);
        assert.equal(res.status, status);
        const body = await res.json();
        if (status === 401) {
          assert.equal(body.error.code, "unauthorized");
          assert.equal(typeof body.error.message, "string");
          // RFC 6750 section 3: an error code only when a Bearer token was sent.
          const sent = headers.authorization?.startsWith("Bearer ") ?? false;
          assert.equal(
            res.headers.get("WWW-Authenticate"),
            sent ? `${CHALLENGE}, error="invalid_token"` : CHALLENGE,
          );
        }
        assert.equal(await write.changed(app), status === 200, "state changed iff authorized");
      });
    }
  }
});

const READS = ["/api/nodes", "/api/limits", "/api/counters", "/api/blocks"];

Deno.test("refusals follow RFC 6750: no error code without credentials, then invalid_token / invalid_request", async (t) => {
  const cases: [string, Record<string, string>, number, string, string][] = [
    ["no Authorization header", {}, 401, "unauthorized", CHALLENGE],
    [
      "another scheme (Basic)",
      { authorization: `Basic ${btoa("a:b")}` },
      401,
      "unauthorized",
      CHALLENGE,
    ],
    [
      "a scheme that only starts like Bearer",
      { authorization: `Bearerx ${TOKEN}` },
      401,
      "unauthorized",
      CHALLENGE,
    ],
    [
      "a wrong token",
      bearer("wrong-token-0123456789"),
      401,
      "unauthorized",
      `${CHALLENGE}, error="invalid_token"`,
    ],
    [
      "Bearer without a token",
      { authorization: "Bearer" },
      400,
      "invalid_request",
      `${CHALLENGE}, error="invalid_request"`,
    ],
    [
      "Bearer with only spaces",
      { authorization: "Bearer   " },
      400,
      "invalid_request",
      `${CHALLENGE}, error="invalid_request"`,
    ],
    [
      "Bearer with two tokens",
      { authorization: `Bearer ${TOKEN} ${TOKEN}` },
      400,
      "invalid_request",
      `${CHALLENGE}, error="invalid_request"`,
    ],
  ];
  for (const [label, headers, status, code, header] of cases) {
    await t.step(label, async () => {
      const { app } = makeTestApp({ env: { RATELIMITER_ADMIN_TOKEN: TOKEN } });
      const res = await app.request("/api/limits/k", { method: "DELETE", headers });
      assert.equal(res.status, status);
      assert.equal(res.headers.get("WWW-Authenticate"), header);
      const body = await res.json();
      assert.deepEqual(Object.keys(body), ["error"]);
      assert.equal(body.error.code, code);
      assert.equal(typeof body.error.message, "string");
      assert.ok(!body.error.message.includes(TOKEN), "the token is never echoed");
    });
  }
});

Deno.test("reads are open unless RATELIMITER_ADMIN_READ_AUTH is set", async () => {
  const open = makeTestApp({ env: { RATELIMITER_ADMIN_TOKEN: TOKEN } }).app;
  for (const path of READS) assert.equal((await open.request(path)).status, 200, path);
  const closed = makeTestApp({
    env: { RATELIMITER_ADMIN_TOKEN: TOKEN, RATELIMITER_ADMIN_READ_AUTH: "true" },
  }).app;
  for (const path of READS) {
    const res = await closed.request(path);
    assert.equal(res.status, 401, path);
    assert.equal((await res.json()).error.code, "unauthorized");
    assert.equal(res.headers.get("WWW-Authenticate"), CHALLENGE);
    assert.equal(
      (await closed.request(path, { headers: bearer("nope-nope-nope-nope") })).status,
      401,
    );
    assert.equal((await closed.request(path, { headers: bearer(TOKEN) })).status, 200, path);
  }
});

Deno.test("/check, /health, /ready and /metrics never need the token", async () => {
  const { app } = makeTestApp({
    env: { RATELIMITER_ADMIN_TOKEN: TOKEN, RATELIMITER_ADMIN_READ_AUTH: "true" },
  });
  assert.equal((await app.request("/check", jsonRequest({ key: "k" }))).status, 200);
  for (const path of ["/health", "/ready", "/metrics"]) {
    assert.equal((await app.request(path)).status, 200, path);
  }
});

Deno.test("without a token configured the management API is open", async () => {
  const { app } = makeTestApp();
  const res = await app.request("/api/limits/k", {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ limit: 1 }),
  });
  assert.equal(res.status, 200);
  assert.equal((await app.request("/api/counters/k/reset", { method: "POST" })).status, 200);
});

Deno.test("timingSafeEqual() compares bytes", () => {
  const a = new Uint8Array([1, 2, 3]);
  assert.equal(timingSafeEqual(a, new Uint8Array([1, 2, 3])), true);
  assert.equal(timingSafeEqual(a, new Uint8Array([1, 2, 4])), false);
  assert.equal(timingSafeEqual(a, new Uint8Array([1, 2])), false);
});
