/**
 * The other transports `bench/grpc_vs_http.ts` measures: the same `ShouldRateLimit` (same rules,
 * embedded store, codec) served by `@grpc/grpc-js` (`grpc-js`) or by the `node:http2` server
 * (`node`) instead of the node's own HTTP/2 transport, so only the transport differs. Benchmark
 * only; never part of a node.
 *
 *   deno run -A bench/grpc_js_server.ts <port> <rules file> [grpc-js|node]
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import {
  decodeRlsRequest,
  encodeRlsResponse,
  type RlsRequest,
  type RlsResponse,
} from "../src/envoy/messages.ts";
import { createRateLimitService } from "../src/envoy/service.ts";
import { startGrpcServer } from "../src/envoy/grpc_server.ts";
import { silentLogger } from "../src/log.ts";
import { noOverrides } from "../src/limiter/resolve.ts";
import { createMetrics } from "../src/metrics/metrics.ts";
import { loadRules } from "../src/rules/load_rules.ts";
import { MemoryStore } from "../src/store/memory_store.ts";

const [portText, rulesFile, transport = "grpc-js"] = Deno.args;
const rules = await loadRules(rulesFile!);
const shouldRateLimit = createRateLimitService({
  store: new MemoryStore({}),
  rules: () => rules,
  overrides: noOverrides,
  metrics: createMetrics({ nodeId: "grpc-js", defaultMetrics: false }),
  rateLimitHeaders: false,
});

if (transport === "node") {
  await startGrpcServer({
    hostname: "127.0.0.1",
    port: Number(portText),
    shouldRateLimit,
    serving: () => true,
    bodyTimeoutMs: 10_000,
    logger: silentLogger,
  });
  console.log("listening");
} else {
  serveGrpcJs();
}

function serveGrpcJs() {
  const server = new grpc.Server();
  server.addService({
    ShouldRateLimit: {
      path: "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
      requestStream: false,
      responseStream: false,
      requestSerialize: () => Buffer.alloc(0),
      requestDeserialize: (bytes: Buffer) => decodeRlsRequest(bytes),
      responseSerialize: (response: RlsResponse) => Buffer.from(encodeRlsResponse(response)),
      responseDeserialize: () => ({}),
    },
  }, {
    ShouldRateLimit(
      call: grpc.ServerUnaryCall<RlsRequest, RlsResponse>,
      callback: grpc.sendUnaryData<RlsResponse>,
    ) {
      shouldRateLimit(call.request).then(
        (response) => callback(null, response),
        (error) => callback({ code: grpc.status.INTERNAL, details: String(error) }),
      );
    },
  });
  server.bindAsync(`127.0.0.1:${portText}`, grpc.ServerCredentials.createInsecure(), (error) => {
    if (error) throw error;
    console.log("listening");
  });
}
