/**
 * The HTTP/2 transport at the frame level: raw TCP clients that speak HTTP/2 correctly (PING,
 * SETTINGS), badly (no preface, oversized frames, broken HPACK, PUSH_PROMISE, CONTINUATION out of
 * place) or not at all, and hang up in every state. Every one ends its own connection at most; the
 * server keeps answering a real gRPC client exactly.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseRules } from "../../src/rules/parse_rules.ts";
import { startTestRls } from "./_server.ts";
import { callHeaders, concat, frame, PREFACE } from "./_h2_frames.ts";

const RULES = parseRules([{
  name: "r.yaml",
  text:
    "domain: d\ndescriptors:\n  - key: k\n    rate_limit: { unit: hour, requests_per_unit: 5 }\n",
}]);

/** Sends `bytes`, reads what comes back until the server closes or `ms` pass. */
async function exchange(port: number, bytes: Uint8Array, ms = 300): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const received: Uint8Array[] = [];
  try {
    const reading = (async () => {
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) return;
        received.push(buf.slice(0, n));
      }
    })();
    // The server may close before everything is sent: what it answered is what counts.
    (async () => {
      let sent = 0;
      while (sent < bytes.length) sent += await conn.write(bytes.subarray(sent));
    })().catch(() => {});
    await Promise.race([reading, new Promise((r) => setTimeout(r, ms))]);
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the server
    }
  }
  return concat(...received);
}

/** The frame types in `bytes` (a stream of frames after the server's preface-less start). */
function frameTypes(bytes: Uint8Array): number[] {
  const types: number[] = [];
  let pos = 0;
  while (bytes.length - pos >= 9) {
    const n = (bytes[pos]! << 16) | (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
    types.push(bytes[pos + 3]!);
    pos += 9 + n;
  }
  return types;
}

Deno.test("h2 transport: PING answered, SETTINGS acknowledged, misbehaving clients only lose their connection", async () => {
  await using rls = await startTestRls({ rules: RULES });
  const port = rls.port;

  // A well-behaved start: SETTINGS (ours), SETTINGS ACK, PING ACK come back.
  const ok = await exchange(
    port,
    concat(PREFACE, frame(0x4, 0, 0), frame(0x6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8])),
  );
  const types = frameTypes(ok);
  assert.ok(types.includes(0x4), `SETTINGS in ${types}`);
  assert.ok(types.includes(0x6), `PING ACK in ${types}`);

  // Protocol errors: GOAWAY (type 7) then the connection closes.
  const bad: Uint8Array[] = [
    new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), // not HTTP/2
    concat(PREFACE, Uint8Array.of(0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1)), // frame too large
    concat(PREFACE, frame(0x1, 0x4, 1, [0x80])), // HPACK index 0
    concat(PREFACE, frame(0x5, 0x4, 1, [0, 0, 0, 2])), // PUSH_PROMISE from a client
    concat(PREFACE, frame(0x9, 0x4, 1, [0x82])), // CONTINUATION without HEADERS
    concat(PREFACE, frame(0x1, 0x4, 2, [0x82])), // even stream id
    concat(PREFACE, frame(0x4, 0, 0, [0, 4])), // SETTINGS of a bad length
    concat(PREFACE, frame(0x0, 0x1, 0, [])), // DATA on stream 0
  ];
  for (const bytes of bad) {
    const answer = await exchange(port, bytes, 1000);
    const t = frameTypes(answer);
    assert.ok(t.includes(0x7), `GOAWAY expected, got ${t}`);
  }

  // Hang-ups in every state of a call: after the headers, mid-message, after a RST_STREAM.
  const partial = [
    concat(PREFACE, callHeaders(1)),
    concat(PREFACE, callHeaders(1), frame(0x0, 0, 1, [0, 0, 0, 0, 9, 0x0a])),
    concat(PREFACE, callHeaders(1), frame(0x3, 0, 1, [0, 0, 0, 8])),
    concat(PREFACE, callHeaders(1, 0x4 | 0x1)), // END_STREAM with no message: INTERNAL
  ];
  for (const bytes of partial) await exchange(port, bytes, 50);

  // More streams than allowed on one connection: refused, not crashed.
  const many: Uint8Array[] = [PREFACE];
  for (let id = 1; id < 2 * 1100; id += 2) many.push(callHeaders(id));
  await exchange(port, concat(...many), 500);

  // Request bytes held beyond the per-connection cap (4 MiB of unfinished messages): GOAWAY
  // ENHANCE_YOUR_CALM (error code 11), nothing held any more.
  const hoard: Uint8Array[] = [PREFACE];
  const chunk = Array.from({ length: 15_000 }, () => 0);
  for (let id = 1; id < 2 * 80; id += 2) {
    hoard.push(callHeaders(id));
    for (let i = 0; i < 4; i++) hoard.push(frame(0x0, 0, id, chunk));
  }
  const calm = await exchange(port, concat(...hoard), 2000);
  const goaway = calm.findLastIndex((_, i) =>
    i + 9 <= calm.length && calm[i + 3] === 0x7 && calm[i] === 0 && calm[i + 1] === 0 &&
    calm[i + 2] === 8
  );
  assert.ok(goaway >= 0, "GOAWAY expected");
  assert.equal(calm[goaway + 9 + 7], 11);

  // The server still answers a real client, exactly.
  const request = { domain: "d", descriptors: [{ entries: [{ key: "k", value: "after" }] }] };
  const first = await rls.client.shouldRateLimit(request);
  const second = await rls.client.shouldRateLimit(request);
  assert.equal(first.statuses[0]!.limit_remaining, 4);
  assert.equal(second.statuses[0]!.limit_remaining, 3);
});
