import assert from "node:assert/strict";
import { Hono } from "hono";
import { ApiError } from "../../src/errors.ts";
import { readJsonBody } from "../../src/http/body.ts";
import { integration as opts } from "../_helpers/options.ts";

/** A server whose one route echoes the JSON body read with a 300 ms deadline and a 100-byte cap. */
function serve() {
  const app = new Hono();
  app.post(
    "/",
    async (c) => c.json({ body: await readJsonBody(c, { timeoutMs: 300, maxBytes: 100 }) }),
  );
  app.onError((error, c) =>
    error instanceof ApiError ? c.json(error.toBody(), error.status as 400) : c.text("bug", 500)
  );
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
}

/** Sends `head`, then each of `parts` after `gapMs`, and returns the status line. */
async function raw(port: number, head: string, parts: string[], gapMs: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const encoder = new TextEncoder();
  // Bound the test: a server that never answers fails it instead of hanging it.
  const guard = setTimeout(() => conn.close(), 10_000);
  try {
    await conn.write(encoder.encode(head));
    const reading = (async () => {
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      return n === null ? "" : new TextDecoder().decode(buf.subarray(0, n)).split("\r\n")[0]!;
    })();
    for (const part of parts) {
      const done = await Promise.race([
        reading.then(() => true),
        new Promise((r) => setTimeout(() => r(false), gapMs)),
      ]);
      if (done) break;
      await conn.write(encoder.encode(part)).catch(() => {});
    }
    return await reading;
  } finally {
    clearTimeout(guard);
    try {
      conn.close();
    } catch { /* closed by the guard */ }
  }
}

Deno.test({
  name: "readJsonBody() reads declared and chunked bodies, and answers 408 to a stalled one",
  ...opts,
  async fn() {
    const server = serve();
    const port = server.addr.port;
    try {
      const json = '{"key":"k"}';
      const declared =
        `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\n\r\n`;
      assert.equal(await raw(port, declared + json, [], 0), "HTTP/1.1 200 OK");
      // Declared length, body never sent: the deadline answers.
      const started = Date.now();
      assert.equal(await raw(port, declared, [], 0), "HTTP/1.1 408 Request Timeout");
      const waited = Date.now() - started;
      assert.ok(waited >= 250 && waited < 5000, `408 after ${waited} ms`);
      // Chunked, trickled slower than the deadline.
      const chunked =
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
      assert.equal(
        await raw(port, chunked + "1\r\n{\r\n", ["1\r\n \r\n", "1\r\n \r\n", "1\r\n \r\n"], 200),
        "HTTP/1.1 408 Request Timeout",
      );
      // Chunked, within the deadline but over the cap: 413.
      const big = `{"key":"${"x".repeat(200)}"}`;
      const body = `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`;
      assert.equal(await raw(port, chunked + body, [], 0), "HTTP/1.1 413 Payload Too Large");
      // Chunked and complete: read in full.
      const small = `${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`;
      assert.equal(await raw(port, chunked + small, [], 0), "HTTP/1.1 200 OK");
    } finally {
      await server.shutdown();
    }
  },
});
