/**
 * Starts the gRPC server of `src/envoy/` in-process on a free loopback port, on a store the test
 * chooses (an embedded one by default) and an in-test rule set.
 *
 * @module
 */
import { startGrpcServer } from "../../src/envoy/grpc_server.ts";
import { startH2GrpcServer } from "../../src/envoy/h2_server.ts";
import { createRateLimitService } from "../../src/envoy/service.ts";
import { noOverrides, type OverrideLookup } from "../../src/limiter/resolve.ts";
import { silentLogger } from "../../src/log.ts";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/types.ts";
import type { RuleSet } from "../../src/rules/types.ts";
import { connectRls, type RlsClient } from "./_grpc_client.ts";

/** A running server and a client connected to it. */
export interface TestRls {
  port: number;
  client: RlsClient;
  metrics: Metrics;
  store: Store;
  /** Replaces the rules in force. */
  setRules(rules: RuleSet | undefined): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options for {@linkcode startTestRls}. */
export interface TestRlsOptions {
  rules?: RuleSet;
  store?: Store;
  overrides?: OverrideLookup;
  rateLimitHeaders?: boolean;
  now?: () => number;
  serving?: () => boolean;
  /** The gRPC transport: the node's own HTTP/2 (`h2`), or `node:http2`. @default {"h2"} */
  transport?: "h2" | "node";
}

/** Starts a server and connects a client. */
export async function startTestRls(options: TestRlsOptions = {}): Promise<TestRls> {
  let rules = options.rules;
  const metrics = createMetrics({ nodeId: "test", defaultMetrics: false });
  const store = options.store ?? new MemoryStore({});
  const service = createRateLimitService({
    store,
    rules: () => rules,
    overrides: options.overrides ?? noOverrides,
    metrics,
    rateLimitHeaders: options.rateLimitHeaders ?? false,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const start = (options.transport ?? "h2") === "h2" ? startH2GrpcServer : startGrpcServer;
  const server = await start({
    hostname: "127.0.0.1",
    port: 0,
    shouldRateLimit: service,
    serving: options.serving ?? (() => true),
    bodyTimeoutMs: 10_000,
    logger: silentLogger,
    metrics,
  });
  const client = connectRls(server.port);
  return {
    port: server.port,
    client,
    metrics,
    store,
    setRules: (next) => rules = next,
    async [Symbol.asyncDispose]() {
      client.close();
      await server.close(1000);
      await store.close();
    },
  };
}
