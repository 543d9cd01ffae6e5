import assert from "node:assert/strict";
import {
  decodeHealthCheckRequest,
  decodeRlsRequest,
  encodeRlsResponse,
  MAX_DESCRIPTORS,
} from "../../src/envoy/messages.ts";
import { WireError, WireWriter } from "../../src/envoy/wire.ts";
// protobufjs is what @grpc/proto-loader builds on: an independent encoder of the same .proto.
import protobuf from "protobufjs";

const PROTO = new URL("../../src/envoy/rls.proto", import.meta.url).pathname;

async function types() {
  const root = await protobuf.load(PROTO);
  return {
    request: root.lookupType("envoy.service.ratelimit.v3.RateLimitRequest"),
    response: root.lookupType("envoy.service.ratelimit.v3.RateLimitResponse"),
  };
}

Deno.test("decodeRlsRequest reads what protobufjs encodes from rls.proto", async () => {
  const { request } = await types();
  const bytes = request.encode(request.fromObject({
    domain: "edge",
    hitsAddend: 4,
    descriptors: [
      { entries: [{ key: "user", value: "ü-1" }, { key: "path", value: "/a" }] },
      {
        entries: [{ key: "k", value: "v" }],
        limit: { requestsPerUnit: 7, unit: 7 },
        hitsAddend: { value: 0 },
      },
      { entries: [{ key: "k", value: "w" }], hitsAddend: { value: 9_000_000_000 } },
    ],
  })).finish();
  assert.deepEqual(decodeRlsRequest(bytes), {
    domain: "edge",
    hitsAddend: 4,
    descriptors: [
      {
        entries: [{ key: "user", value: "ü-1" }, { key: "path", value: "/a" }],
        limit: undefined,
        hitsAddend: undefined,
      },
      {
        entries: [{ key: "k", value: "v" }],
        limit: { requestsPerUnit: 7, unit: 7 },
        hitsAddend: 0,
      },
      { entries: [{ key: "k", value: "w" }], limit: undefined, hitsAddend: 9_000_000_000 },
    ],
  });
});

Deno.test("encodeRlsResponse is read back by protobufjs", async () => {
  const { response } = await types();
  const bytes = encodeRlsResponse({
    overallCode: 2,
    statuses: [
      {
        code: 2,
        currentLimit: { name: "n", requestsPerUnit: 4_000_000_000, unit: 6 },
        limitRemaining: 0,
        durationUntilReset: { seconds: 31, nanos: 500_000_000 },
      },
      { code: 1, currentLimit: undefined, limitRemaining: 0, durationUntilReset: undefined },
    ],
    responseHeadersToAdd: [{ key: "RateLimit", value: '"n";r=0;t=31' }],
    requestHeadersToAdd: [],
  });
  const decoded = response.toObject(response.decode(bytes), { longs: Number, defaults: true });
  assert.equal(decoded.overallCode, 2);
  assert.equal(decoded.statuses.length, 2);
  assert.deepEqual(decoded.statuses[0].currentLimit, {
    name: "n",
    requestsPerUnit: 4_000_000_000,
    unit: 6,
  });
  assert.deepEqual(decoded.statuses[0].durationUntilReset, { seconds: 31, nanos: 500_000_000 });
  assert.equal(decoded.statuses[1].currentLimit, null);
  assert.deepEqual(decoded.responseHeadersToAdd, [{ key: "RateLimit", value: '"n";r=0;t=31' }]);
});

Deno.test("decoders skip unknown fields and refuse malformed bytes", () => {
  // Unknown fields of every wire type, then the domain.
  const withUnknown = new Uint8Array([
    ...[0x48, 0x01], // field 9 varint
    ...[0x51, 1, 2, 3, 4, 5, 6, 7, 8], // field 10 fixed64
    ...[0x5d, 1, 2, 3, 4], // field 11 fixed32
    ...[0x62, 0x01, 0x00], // field 12 bytes
    ...new WireWriter().string(1, "d").finish(),
  ]);
  assert.equal(decodeRlsRequest(withUnknown).domain, "d");
  const malformed = [
    new Uint8Array([0x0a, 0x05, 0x61]), // truncated string
    new Uint8Array([0x0a, 0x02, 0xc3, 0x28]), // invalid UTF-8
    new Uint8Array([0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // long varint
    new Uint8Array([0x0b]), // group (wire type 3)
    new Uint8Array([0x08, 0x01]), // domain with wire type varint
    new Uint8Array([0x00]), // field number 0
  ];
  for (const bytes of malformed) assert.throws(() => decodeRlsRequest(bytes), WireError);
  const many = new WireWriter();
  for (let i = 0; i <= MAX_DESCRIPTORS; i++) many.message(2, new WireWriter());
  assert.throws(() => decodeRlsRequest(many.finish()), /more than 64 descriptors/);
  assert.deepEqual(decodeHealthCheckRequest(new WireWriter().string(1, "svc").finish()), {
    service: "svc",
  });
});
