/**
 * Keys in paths (`/api/limits/{key}`, `/api/counters/{key}/reset`, `/check/{key}`) come from the
 * raw path exactly once. A raw `\` is part of the key, the same key as `%5C`, on every route.
 * `app.request()` and `fetch` both normalize `\` to `/` before the app sees it, so these tests
 * send the request line over a raw TCP connection, as an attacker's client would.
 *
 * @module
 */
import assert from "node:assert/strict";
import { rawPath } from "../../src/http/path_key.ts";
import { makeTestApp } from "../_helpers/app.ts";

type Json = Record<string, unknown>;

/** Sends one HTTP/1.1 request with `target` written as is; returns its status and JSON body. */
async function rawRequest(
  port: number,
  method: string,
  target: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const payload = body === undefined ? "" : JSON.stringify(body);
  const head = [
    `${method} ${target} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Connection: close",
    ...(body === undefined ? [] : ["Content-Type: application/json"]),
    `Content-Length: ${new TextEncoder().encode(payload).length}`,
  ];
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`${head.join("\r\n")}\r\n\r\n${payload}`));
    const text = await new Response(conn.readable).text();
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
    const json = text.slice(text.indexOf("\r\n\r\n") + 4);
    return { status, body: JSON.parse(json) };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the reader */ }
  }
}

/** Runs `fn` against the test app served on a free loopback port. */
async function withServer(fn: (port: number) => Promise<void>): Promise<void> {
  const { app } = makeTestApp();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  try {
    await fn(server.addr.port);
  } finally {
    await server.shutdown();
  }
}

Deno.test("rawPath() returns the path as sent, backslashes and dot segments included", () => {
  assert.equal(rawPath("http://h/api/limits/DOMAIN\\alice"), "/api/limits/DOMAIN\\alice");
  assert.equal(rawPath("http://h:8/a/./../b%5Cc?x=\\1"), "/a/./../b%5Cc");
  assert.equal(rawPath("http://h"), "/");
});

Deno.test("PUT, GET and DELETE /api/limits/{key} take a raw backslash as part of the key", async () => {
  await withServer(async (port) => {
    const other = await rawRequest(port, "PUT", "/api/limits/alice", { limit: 7 });
    assert.equal(other.status, 200);
    const set = await rawRequest(port, "PUT", "/api/limits/DOMAIN\\alice", { limit: 3 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.key, "DOMAIN\\alice");
    assert.equal(set.body.created, true);
    // Encoded or not, the same key; `alice` is untouched.
    for (const target of ["/api/limits/DOMAIN\\alice", "/api/limits/DOMAIN%5Calice"]) {
      const got = await rawRequest(port, "GET", target);
      assert.equal(got.status, 200, target);
      assert.deepEqual([got.body.key, got.body.limit], ["DOMAIN\\alice", 3], target);
    }
    const again = await rawRequest(port, "PUT", "/api/limits/DOMAIN%5Calice", { limit: 4 });
    assert.equal(again.body.created, false);
    assert.equal((await rawRequest(port, "GET", "/api/limits/alice")).body.limit, 7);
    const deleted = await rawRequest(port, "DELETE", "/api/limits/DOMAIN\\alice");
    assert.equal(deleted.status, 200);
    assert.equal(deleted.body.key, "DOMAIN\\alice");
    assert.equal((await rawRequest(port, "GET", "/api/limits/DOMAIN%5Calice")).status, 404);
    assert.equal((await rawRequest(port, "GET", "/api/limits/alice")).status, 200);
    const listed = (await rawRequest(port, "GET", "/api/limits")).body.overrides as Json[];
    assert.deepEqual(listed.map((o) => o.key), ["alice"]);
  });
});

Deno.test("POST /api/counters/{key}/reset with a raw backslash resets that key only", async () => {
  await withServer(async (port) => {
    for (const key of ["alice", "DOMAIN\\alice"]) {
      const res = await rawRequest(port, "POST", "/check", { key, limit: 1 });
      assert.equal(res.status, 200);
    }
    const reset = await rawRequest(port, "POST", "/api/counters/DOMAIN\\alice/reset");
    assert.equal(reset.status, 200, JSON.stringify(reset.body));
    assert.deepEqual(reset.body, { key: "DOMAIN\\alice", reset: true });
    assert.equal(
      (await rawRequest(port, "POST", "/check", { key: "alice", limit: 1 })).status,
      429,
    );
    const fresh = await rawRequest(port, "POST", "/check", { key: "DOMAIN\\alice", limit: 1 });
    assert.equal(fresh.status, 200);
    const encoded = await rawRequest(port, "POST", "/api/counters/DOMAIN%5Calice/reset");
    assert.deepEqual(encoded.body, { key: "DOMAIN\\alice", reset: true });
  });
});

Deno.test("GET /check/{key} takes a raw backslash as part of the key, like %5C", async () => {
  await withServer(async (port) => {
    const used = await rawRequest(port, "POST", "/check", { key: "DOMAIN\\alice", limit: 1 });
    assert.equal(used.status, 200);
    for (const target of ["/check/DOMAIN\\alice?limit=1", "/check/DOMAIN%5Calice?limit=1"]) {
      const peek = await rawRequest(port, "GET", target);
      assert.equal(peek.status, 429, `${target}: ${JSON.stringify(peek.body)}`);
      assert.deepEqual([peek.body.key, peek.body.current_count], ["DOMAIN\\alice", 1], target);
    }
    const slash = await rawRequest(port, "GET", "/check/DOMAIN%2Falice?limit=1");
    assert.deepEqual([slash.status, slash.body.key, slash.body.current_count], [
      200,
      "DOMAIN/alice",
      0,
    ]);
  });
});

Deno.test("the keys . and .. are addressed as %2E and %2E%2E, and as raw segments", async () => {
  await withServer(async (port) => {
    for (const [target, key] of [["%2E", "."], ["%2E%2E", ".."], ["..", ".."], [".", "."]]) {
      const set = await rawRequest(port, "PUT", `/api/limits/${target}`, { limit: 2 });
      assert.equal(set.status, 200, `${target}: ${JSON.stringify(set.body)}`);
      assert.equal(set.body.key, key, target);
    }
    const listed = (await rawRequest(port, "GET", "/api/limits")).body.overrides as Json[];
    assert.deepEqual(listed.map((o) => o.key).sort(), [".", ".."]);
  });
});
