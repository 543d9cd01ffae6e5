/**
 * A client that resets streams or disconnects mid-call must never take the server down: calls are
 * cancelled by a real gRPC client, and raw HTTP/2 clients reset streams and destroy their sessions
 * before, during and after sending a request, while a slow store keeps calls in flight. Any
 * uncaught exception or unhandled error event would fail this test (the server runs in-process).
 * Afterwards the server still answers exactly.
 *
 * @module
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import { encodeRlsResponse } from "../../src/envoy/messages.ts";
import { parseRules } from "../../src/rules/parse_rules.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/types.ts";
import { connectRls } from "./_grpc_client.ts";
import { startTestRls } from "./_server.ts";
import { WireWriter } from "../../src/envoy/wire.ts";

const RULES = parseRules([{
  name: "r.yaml",
  text:
    "domain: d\ndescriptors:\n  - key: k\n    rate_limit: { unit: hour, requests_per_unit: 1000000 }\n",
}]);

/** A store whose answers take a few ms, so calls are in flight when their clients go away. */
function slowStore(): Store {
  const inner = new MemoryStore({});
  const delay = () => new Promise((r) => setTimeout(r, 2 + Math.random() * 10));
  return new Proxy(inner, {
    get(target, name, receiver) {
      if (name === "check" || name === "checkMany") {
        // deno-lint-ignore no-explicit-any
        return async (...args: any[]) => {
          await delay();
          // deno-lint-ignore no-explicit-any
          return (target as any)[name](...args);
        };
      }
      const value = Reflect.get(target, name, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** A framed ShouldRateLimit request for descriptor `k=v`. */
function requestFrame(value: string): Uint8Array {
  const entry = new WireWriter().string(1, "k").string(2, value);
  const descriptor = new WireWriter().message(1, entry);
  const message = new WireWriter().string(1, "d").message(2, descriptor).finish();
  const frame = new Uint8Array(5 + message.length);
  new DataView(frame.buffer).setUint32(1, message.length);
  frame.set(message, 5);
  return frame;
}

const HEADERS = {
  ":method": "POST",
  ":path": "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
  "content-type": "application/grpc",
  te: "trailers",
};

/** One raw session that misbehaves in one of several ways, then goes away. */
async function misbehave(port: number, mode: number): Promise<void> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  const streams: http2.ClientHttp2Stream[] = [];
  for (let i = 0; i < 8; i++) {
    const stream = session.request(HEADERS);
    stream.on("error", () => {});
    stream.on("data", () => {});
    streams.push(stream);
    const frame = requestFrame(`raw-${mode}-${i}`);
    if (mode === 0) stream.end(frame); // complete request; the session is destroyed mid-call
    if (mode === 1) stream.write(frame.subarray(0, 7)); // half a message, then gone
    if (mode === 2) {
      stream.end(frame);
      stream.close(http2.constants.NGHTTP2_CANCEL); // reset right after sending
    }
    if (mode === 3) stream.end(frame.subarray(0, 3)); // a truncated frame, completed
  }
  await new Promise((r) => setTimeout(r, Math.random() * 15));
  if (mode === 2) {
    for (const stream of streams) stream.close(http2.constants.NGHTTP2_CANCEL);
  }
  session.destroy();
}

for (const transport of ["h2", "node"] as const) {
  Deno.test(`clients cancelling calls and dropping sessions mid-call never take the server down (${transport})`, async () => {
    await using rls = await startTestRls({ rules: RULES, store: slowStore(), transport });
    const request = (value: string) => ({
      domain: "d",
      descriptors: [{ entries: [{ key: "k", value }] }],
    });
    let answered = 0;
    for (let round = 0; round < 5; round++) {
      const clients = Array.from({ length: 3 }, () => connectRls(rls.port));
      const calls = [];
      for (let i = 0; i < 150; i++) {
        const call = clients[i % 3]!.startCall(request(`c${round}-${i}`));
        calls.push(call.done);
        if (i % 2 === 0) setTimeout(() => call.cancel(), Math.random() * 10);
      }
      const raw = Array.from({ length: 8 }, (_, i) => misbehave(rls.port, i % 4));
      // A client closed while its calls are in flight.
      setTimeout(() => clients[2]!.close(), 5);
      const results = await Promise.all(calls);
      await Promise.all(raw);
      answered += results.filter((r) => (r as { overall_code?: string }).overall_code === "OK")
        .length;
      clients[0]!.close();
      clients[1]!.close();
    }
    // Some calls went through during the storm; and the server still answers exactly.
    assert.ok(answered > 0);
    const client = connectRls(rls.port);
    try {
      const first = await client.shouldRateLimit(request("after"));
      const second = await client.shouldRateLimit(request("after"));
      assert.equal(first.statuses[0]!.limit_remaining, 999_999);
      assert.equal(second.statuses[0]!.limit_remaining, 999_998);
      assert.deepEqual(await client.healthCheck(), { status: "SERVING" });
    } finally {
      client.close();
    }
    // Keeps the import of the codec honest: an empty response encodes to nothing but its code.
    assert.equal(
      encodeRlsResponse({
        overallCode: 1,
        statuses: [],
        responseHeadersToAdd: [],
        requestHeadersToAdd: [],
      }).length,
      2,
    );
  });
}
