/**
 * The bounds of the HTTP/2 transport against the known HTTP/2 attacks, each with raw frames over
 * loopback: a rapid reset (CVE-2023-44487) cannot pile up calls in flight past
 * `MAX_CONCURRENT_STREAMS`; a peer that sends but never reads loses its connection once
 * `MAX_CONNECTION_UNSENT` answer bytes wait; a CONTINUATION flood ends at `MAX_HEADER_FRAMES`; a
 * WINDOW_UPDATE beyond 2^31 - 1 is a FLOW_CONTROL_ERROR (of the connection on stream 0, of the
 * stream on a stream).
 *
 * @module
 */
import assert from "node:assert/strict";
import { MAX_CONCURRENT_STREAMS } from "../../src/envoy/h2_server.ts";
import { parseRules } from "../../src/rules/parse_rules.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/types.ts";
import {
  callHeaders,
  concat,
  frame,
  PREFACE,
  type ReadFrame,
  readFrames,
  requestMessage,
} from "./_h2_frames.ts";
import { startTestRls } from "./_server.ts";

const RULES = parseRules([{
  name: "r.yaml",
  text:
    "domain: d\ndescriptors:\n  - key: k\n    rate_limit: { unit: hour, requests_per_unit: 1000000 }\n",
}]);

const PING = frame(0x6, 0, 0, [9, 9, 9, 9, 9, 9, 9, 9]);
const isPingAck = (f: ReadFrame) => f.type === 0x6 && (f.flags & 0x1) !== 0;
const isGoAway = (f: ReadFrame) => f.type === 0x7;
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const errorCode = (f: ReadFrame, at: number) => new DataView(f.payload.buffer).getUint32(at);

/** A store whose decisions wait until `release()`, counting the decisions started. */
function gatedStore(): { store: Store; started: () => number; release: () => void } {
  const inner = new MemoryStore({});
  let open!: () => void;
  const gate = new Promise<void>((r) => open = r);
  let started = 0;
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      if (name === "check" || name === "checkMany") {
        // deno-lint-ignore no-explicit-any
        return async (...args: any[]) => {
          started++;
          await gate;
          // deno-lint-ignore no-explicit-any
          return (target as any)[name](...args);
        };
      }
      const value = Reflect.get(target, name, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store, started: () => started, release: open };
}

/** Writes `bytes` in the background (the server may close first); returns the connection. */
async function send(port: number, bytes: Uint8Array): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  (async () => {
    let sent = 0;
    while (sent < bytes.length) sent += await conn.write(bytes.subarray(sent));
  })().catch(() => {});
  return conn;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // closed by the server
  }
}

Deno.test("h2 limits: a rapid reset cannot hold more calls in flight than MAX_CONCURRENT_STREAMS", async () => {
  const gated = gatedStore();
  await using rls = await startTestRls({ rules: RULES, store: gated.store });
  const total = MAX_CONCURRENT_STREAMS + 500;
  const parts: Uint8Array[] = [PREFACE];
  for (let i = 0; i < total; i++) {
    const id = 2 * i + 1;
    parts.push(
      callHeaders(id),
      frame(0x0, 0x1, id, requestMessage(`rr-${i}`)), // the whole request, END_STREAM
      frame(0x3, 0, id, u32(8)), // RST_STREAM CANCEL at once
    );
  }
  parts.push(PING);
  const conn = await send(rls.port, concat(...parts));
  try {
    const frames = await readFrames(conn, isPingAck);
    assert.ok(frames.some(isPingAck), "the connection lives on");
    const refused = frames.filter((f) => f.type === 0x3 && errorCode(f, 0) === 7).length;
    // Every reset call still being decided counts as an open stream: the rest are refused.
    assert.ok(refused >= total - MAX_CONCURRENT_STREAMS, `refused ${refused}`);
    assert.ok(gated.started() <= MAX_CONCURRENT_STREAMS, `started ${gated.started()}`);
  } finally {
    closeQuietly(conn);
    gated.release();
  }
  // Once the decisions end, the server answers a real client again.
  const answer = await rls.client.shouldRateLimit({
    domain: "d",
    descriptors: [{ entries: [{ key: "k", value: "after" }] }],
  });
  assert.equal(answer.statuses[0]!.limit_remaining, 999_999);
});

/**
 * Sends `total` calls of an unknown method whose long :path sits in the HPACK dynamic table (12
 * bytes a request, ~4 KB an answer: its grpc-message names the path), reading nothing until all is
 * sent; then reads until the server hangs up or every answer came. Returns the answers' sizes.
 */
async function unreadAnswers(port: number, total: number): Promise<number[]> {
  const path = new TextEncoder().encode("/" + "a".repeat(3898));
  const first = [
    0x83, // :method POST
    0x44, // :path, literal with indexing
    0x7f, // its length, 3899 = 127 + 60 + 29 * 128
    0x80 | 60,
    29,
    ...path,
    0x5f, // content-type (index 31), literal with indexing
    0x10,
    ...new TextEncoder().encode("application/grpc"),
  ];
  const parts: Uint8Array[] = [PREFACE, frame(0x1, 0x5, 1, first)];
  // :method POST, then the dynamic table's :path (63) and content-type (62).
  for (let i = 1; i < total; i++) parts.push(frame(0x1, 0x5, 2 * i + 1, [0x83, 0xbf, 0xbe]));
  const conn = await send(port, concat(...parts));
  try {
    const answers: number[] = [];
    await readFrames(conn, (f) => {
      if (f.type === 0x1) answers.push(f.payload.length);
      return answers.length === total;
    });
    return answers;
  } finally {
    closeQuietly(conn);
  }
}

Deno.test("h2 limits: a peer that sends but never reads loses its connection, answers are not hoarded", async () => {
  await using rls = await startTestRls({ rules: RULES });
  // The amplifier works: three requests, three answers of ~4 KB.
  const few = await unreadAnswers(rls.port, 3);
  assert.equal(few.length, 3);
  assert.ok(few.every((size) => size > 3900), `answer sizes ${few}`);
  // 8000 of them (~32 MB of answers, more than the socket buffers take): dropped at the cap.
  const total = 8000;
  const many = await unreadAnswers(rls.port, total);
  assert.ok(many.length < total, `all ${many.length} answers were held for a peer not reading`);
  assert.deepEqual(await rls.client.healthCheck(), { status: "SERVING" });
});

Deno.test("h2 limits: a CONTINUATION flood ends the connection with ENHANCE_YOUR_CALM", async () => {
  await using rls = await startTestRls({ rules: RULES });
  const parts: Uint8Array[] = [PREFACE, frame(0x1, 0, 1, [0x83])]; // HEADERS without END_HEADERS
  for (let i = 0; i < 10_000; i++) parts.push(frame(0x9, 0, 1)); // empty CONTINUATIONs
  parts.push(PING); // out of place: a PROTOCOL_ERROR if the flood got through
  const conn = await send(rls.port, concat(...parts));
  try {
    const frames = await readFrames(conn, isGoAway);
    const goAway = frames.find(isGoAway);
    assert.ok(goAway !== undefined, "GOAWAY expected");
    assert.equal(errorCode(goAway, 4), 11);
  } finally {
    closeQuietly(conn);
  }
});

Deno.test("h2 limits: WINDOW_UPDATE beyond 2^31 - 1 is a FLOW_CONTROL_ERROR, a zero increment a PROTOCOL_ERROR", async () => {
  await using rls = await startTestRls({ rules: RULES });
  const until = (f: ReadFrame) => isGoAway(f) || isPingAck(f);
  const cases: [Uint8Array, number][] = [
    [frame(0x8, 0, 0, u32(0x7fffffff)), 3], // 65_535 + 2^31 - 1 on the connection
    [frame(0x8, 0, 0, u32(0)), 1],
  ];
  for (const [update, code] of cases) {
    const conn = await send(rls.port, concat(PREFACE, update, PING));
    try {
      const goAway = (await readFrames(conn, until)).find(isGoAway);
      assert.ok(goAway !== undefined, `GOAWAY expected for code ${code}`);
      assert.equal(errorCode(goAway, 4), code);
    } finally {
      closeQuietly(conn);
    }
  }
  // On a stream: that stream is reset (FLOW_CONTROL_ERROR), the connection goes on.
  const conn = await send(
    rls.port,
    concat(PREFACE, callHeaders(1), frame(0x8, 0, 1, u32(0x7fffffff)), PING),
  );
  try {
    const frames = await readFrames(conn, until);
    assert.ok(frames.some(isPingAck), "the connection lives on");
    const reset = frames.find((f) => f.type === 0x3 && f.stream === 1);
    assert.ok(reset !== undefined, "RST_STREAM expected");
    assert.equal(errorCode(reset, 0), 3);
  } finally {
    closeQuietly(conn);
  }
});
