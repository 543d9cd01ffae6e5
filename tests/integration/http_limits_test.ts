/**
 * Bad input at the wire level, against a real `main.ts` node: what `app.request()` cannot send
 * (raw bytes, trickled bodies, unknown methods, URLs past the HTTP layer's own limits).
 *
 * @module
 */
import assert from "node:assert/strict";
import { postJson, startNode, type TestNode } from "../_helpers/node_process.ts";
import { integration as opts } from "../_helpers/options.ts";
import { sleep } from "../_helpers/wait.ts";

const encoder = new TextEncoder();

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from the first byte sent to the whole response read. */
  ms: number;
}

/**
 * Sends `parts` on a fresh connection (waiting `gapMs` between parts, without waiting for the
 * writes to finish before reading) and reads one response. Bounded by `timeoutMs`.
 */
async function rawRequest(
  node: TestNode,
  parts: (string | Uint8Array)[],
  gapMs = 0,
  timeoutMs = 10_000,
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: node.port });
  const started = performance.now();
  let stopWriting = false;
  const writer = (async () => {
    for (const part of parts) {
      if (stopWriting) return;
      try {
        await conn.write(typeof part === "string" ? encoder.encode(part) : part);
      } catch {
        return;
      }
      if (gapMs > 0) await sleep(gapMs);
    }
  })();
  const timer = setTimeout(() => conn.close(), timeoutMs);
  let text = "";
  const buf = new Uint8Array(65536);
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) continue;
      const length = /content-length: (\d+)/i.exec(text.slice(0, end));
      if (length !== null && text.length >= end + 4 + Number(length[1])) break;
    }
  } finally {
    stopWriting = true;
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
    await writer;
  }
  const ms = performance.now() - started;
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`No response within ${timeoutMs} ms: ${JSON.stringify(text)}`);
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(statusLine!.split(" ")[1]), headers, body: text.slice(end + 4), ms };
}

async function checkedTotal(node: TestNode): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  return text.split("\n")
    .filter((l) => l.startsWith("ratelimiter_requests_checked_total{"))
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

Deno.test({
  name: "a body trickled byte by byte gets a 408 at the body deadline while others are served",
  ...opts,
  async fn() {
    const node = await startNode({ env: { RATELIMITER_BODY_TIMEOUT_MS: "500" } });
    try {
      const body = JSON.stringify({ key: "slow", limit: 5, pad: "p".repeat(30) });
      const trickle = rawRequest(node, [
        "POST /check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
        `Content-Length: ${body.length}\r\n\r\n`,
        ...body.split(""),
      ], 150);
      // The node keeps serving everyone else meanwhile.
      await sleep(200);
      assert.equal((await postJson(`${node.url}/check`, { key: "fast" })).status, 200);
      const res = await trickle;
      assert.equal(res.status, 408);
      assert.equal(JSON.parse(res.body).error.code, "request_timeout");
      // The whole body would take ~7 s; the answer comes at the 0.5 s deadline (plus slack).
      assert.ok(res.ms < 4000, `answered after ${res.ms} ms`);
      assert.equal(await checkedTotal(node), 1);
    } finally {
      await node.stop("SIGKILL");
    }
  },
});

Deno.test({
  name: "wire-level bad requests get a 4xx, and the node keeps serving",
  ...opts,
  async fn(t) {
    const node = await startNode();
    try {
      await t.step("an unknown method: 405 JSON with Allow", async () => {
        const res = await rawRequest(node, ["FOO /check HTTP/1.1\r\nHost: x\r\n\r\n"]);
        assert.equal(res.status, 405);
        assert.equal(res.headers["allow"], "POST");
        assert.equal(JSON.parse(res.body).error.code, "method_not_allowed");
      });
      await t.step("a 3 KiB path: 414 JSON", async () => {
        const res = await rawRequest(node, [
          `GET /${"a".repeat(3000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
        ]);
        assert.equal(res.status, 414);
        assert.equal(JSON.parse(res.body).error.code, "uri_too_long");
      });
      await t.step("a 100 KiB URL: 400 from the HTTP layer (not JSON)", async () => {
        const res = await rawRequest(node, [
          `GET /${"a".repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
        ]);
        assert.equal(res.status, 400);
      });
      await t.step("a raw 0xFF byte in the request line: 400 from the HTTP layer", async () => {
        const res = await rawRequest(node, [
          new Uint8Array([...encoder.encode("GET /"), 0xff, ...encoder.encode(" HTTP/1.1\r\n")]),
          "Host: x\r\n\r\n",
        ]);
        assert.equal(res.status, 400);
      });
      await t.step(
        "a declared 100 KB body on GET /health: 413 JSON before it is sent",
        async () => {
          const res = await rawRequest(node, [
            "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
          ]);
          assert.equal(res.status, 413);
          assert.equal(JSON.parse(res.body).error.code, "payload_too_large");
        },
      );
      await t.step("a chunked body past 64 KiB on POST /check: 413 JSON", async () => {
        const chunk = "x".repeat(16_384);
        const res = await rawRequest(node, [
          "POST /check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
          "Transfer-Encoding: chunked\r\n\r\n",
          ...Array(6).fill(`${chunk.length.toString(16)}\r\n${chunk}\r\n`),
          "0\r\n\r\n",
        ]);
        assert.equal(res.status, 413);
        assert.equal(JSON.parse(res.body).error.code, "payload_too_large");
      });
      await t.step("a NUL in the percent-encoded path: 400 JSON", async () => {
        const res = await rawRequest(node, ["GET /health%00 HTTP/1.1\r\nHost: x\r\n\r\n"]);
        assert.equal(res.status, 400);
        assert.equal(JSON.parse(res.body).error.code, "invalid_path");
      });
      assert.equal(await checkedTotal(node), 0);
      assert.equal((await postJson(`${node.url}/check`, { key: "still-up" })).status, 200);
    } finally {
      await node.stop("SIGKILL");
    }
  },
});
