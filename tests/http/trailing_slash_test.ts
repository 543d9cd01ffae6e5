/**
 * Every route answers the same with or without one trailing slash (issue 11: `GET /health/` used to
 * answer a 405 that named GET as allowed), and an empty key in a path is a 400.
 */
import assert from "node:assert/strict";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";

type App = ReturnType<typeof makeTestApp>["app"];

/** Status and body of an answer, with the fields that change between two calls left out. */
async function answer(app: App, path: string, init?: RequestInit) {
  const res = await app.request(path, init);
  const text = await res.text();
  const body = text.startsWith("{") ? JSON.parse(text) : text.slice(0, 40);
  for (const field of ["updated_at", "reset_after_ms", "current_count", "remaining"]) {
    delete body[field];
  }
  return { status: res.status, body };
}

Deno.test("every GET route answers the same with or without a trailing slash", async () => {
  const { app } = makeTestApp();
  await app.request("/api/limits/a", jsonRequest({ limit: 3 }, { method: "PUT" }));
  for (
    const path of [
      "/health",
      "/ready",
      "/metrics",
      "/api/nodes",
      "/api/limits",
      "/api/limits/a",
      "/api/counters",
      "/api/blocks",
      "/check/a",
      "/check/a/b",
    ]
  ) {
    const bare = await answer(app, path);
    assert.equal(bare.status, 200, path);
    if (path === "/metrics") continue; // The counts change with every request.
    assert.deepEqual(await answer(app, `${path}/`), bare, `${path}/`);
  }
  assert.equal((await app.request("/health/", { method: "HEAD" })).status, 200);
});

Deno.test("routes that change state answer the same with a trailing slash", async () => {
  const { app } = makeTestApp();
  const put = await answer(app, "/api/limits/a/", jsonRequest({ limit: 3 }, { method: "PUT" }));
  assert.equal(put.status, 200);
  assert.equal(put.body.key, "a", "the trailing slash is not part of the key");
  assert.equal((await answer(app, "/check/", jsonRequest({ key: "a" }))).status, 200);
  const batch = await answer(app, "/check/batch/", jsonRequest({ checks: [{ key: "a" }] }));
  assert.equal(batch.status, 200);
  assert.equal((await answer(app, "/api/counters/a/reset/", { method: "POST" })).status, 200);
  assert.deepEqual(await answer(app, "/api/limits/a/", { method: "DELETE" }), {
    status: 200,
    body: { key: "a", deleted: true },
  });
  // A key that really ends in "/" is sent percent-encoded.
  const encoded = await answer(
    app,
    "/api/limits/b%2F",
    jsonRequest({ limit: 1 }, { method: "PUT" }),
  );
  assert.equal(encoded.body.key, "b/");
});

Deno.test("a wrong method with a trailing slash gets a 405 that does not list it", async () => {
  const { app } = makeTestApp();
  const res = await app.request("/health/", { method: "POST" });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("Allow"), "GET, HEAD");
  assert.match(
    (await res.json()).error.message,
    /^Method POST is not allowed on \/health; allowed: GET, HEAD$/,
  );
  // Two trailing slashes are another path: a 404, not a self-contradicting 405.
  const twice = await app.request("/health//");
  assert.equal(twice.status, 404);
  assert.equal((await twice.json()).error.code, "not_found");
});

Deno.test("an empty key in a path is a 400 invalid_request and changes nothing", async () => {
  const { app, store } = makeTestApp();
  await app.request("/api/limits/a", jsonRequest({ limit: 3 }, { method: "PUT" }));
  for (
    const [method, path] of [
      ["PUT", "/api/limits/"],
      ["DELETE", "/api/limits/"],
      ["GET", "/check/"],
      ["HEAD", "/check/"],
      ["GET", "/check//"],
      ["POST", "/api/counters//reset"],
      ["POST", "/api/counters//reset/"],
    ] as const
  ) {
    const init = method === "PUT" ? jsonRequest({ limit: 1 }, { method }) : { method };
    const res = await app.request(path, init);
    assert.equal(res.status, 400, `${method} ${path}`);
    if (method === "HEAD") continue;
    const error = (await res.json()).error;
    assert.equal(error.code, "invalid_request");
    assert.match(error.message, /key must not be empty/);
  }
  assert.equal((await answer(app, "/api/limits")).body.overrides.length, 1);
  assert.equal(await store.countCounters(), 0);
  // Without the slash, PUT on the list is still a wrong method, consistently.
  const list = await app.request("/api/limits", jsonRequest({ limit: 1 }, { method: "PUT" }));
  assert.equal(list.status, 405);
  assert.equal(list.headers.get("Allow"), "GET, HEAD");
});
