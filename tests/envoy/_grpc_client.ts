/**
 * A real gRPC client of the Envoy protocol for tests and benchmarks: `@grpc/grpc-js` with the
 * messages loaded by `@grpc/proto-loader` from `src/envoy/rls.proto` and `health.proto`, so the
 * server's hand-written codec is checked against an independent encoder.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const PROTO_DIR = new URL("../../src/envoy/", import.meta.url).pathname;

/** A request as the client sends it (proto-loader's object form, snake_case names). */
export interface ClientRequest {
  domain: string;
  descriptors: {
    entries: { key: string; value: string }[];
    limit?: { requests_per_unit: number; unit: string | number };
    hits_addend?: { value: number | string };
  }[];
  hits_addend?: number;
}

/** A status as the client reads it (enums as names, longs as numbers, defaults filled). */
export interface ClientStatus {
  code: "UNKNOWN" | "OK" | "OVER_LIMIT";
  current_limit: { name: string; requests_per_unit: number; unit: string } | null;
  limit_remaining: number;
  duration_until_reset: { seconds: number; nanos: number } | null;
}

/** A response as the client reads it. */
export interface ClientResponse {
  overall_code: "UNKNOWN" | "OK" | "OVER_LIMIT";
  statuses: ClientStatus[];
  response_headers_to_add: { key: string; value: string }[];
  request_headers_to_add: { key: string; value: string }[];
}

const LOAD_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  includeDirs: [PROTO_DIR],
};

// deno-lint-ignore no-explicit-any
type AnyClient = any;

/** A connected client of one server. */
export interface RlsClient {
  shouldRateLimit(request: ClientRequest, deadlineMs?: number): Promise<ClientResponse>;
  /** Starts a call and returns it, to cancel it. */
  startCall(request: ClientRequest): { cancel(): void; done: Promise<unknown> };
  healthCheck(service?: string): Promise<{ status: string }>;
  healthWatch(): Promise<unknown>;
  close(): void;
}

/** Connects a client to `127.0.0.1:<port>` (plaintext HTTP/2). */
export function connectRls(port: number): RlsClient {
  const rls = grpc.loadPackageDefinition(
    protoLoader.loadSync(`${PROTO_DIR}rls.proto`, LOAD_OPTIONS),
  );
  const health = grpc.loadPackageDefinition(
    protoLoader.loadSync(`${PROTO_DIR}health.proto`, LOAD_OPTIONS),
  );
  const address = `127.0.0.1:${port}`;
  const credentials = grpc.credentials.createInsecure();
  // deno-lint-ignore no-explicit-any
  const Rls = (rls as any).envoy.service.ratelimit.v3.RateLimitService;
  // deno-lint-ignore no-explicit-any
  const Health = (health as any).grpc.health.v1.Health;
  const client: AnyClient = new Rls(address, credentials);
  const healthClient: AnyClient = new Health(address, credentials);
  const unary = <T>(c: AnyClient, method: string, request: unknown, deadlineMs = 10_000) =>
    new Promise<T>((resolve, reject) => {
      c[method](
        request,
        { deadline: Date.now() + deadlineMs },
        (error: grpc.ServiceError | null, response: T) => error ? reject(error) : resolve(response),
      );
    });
  return {
    shouldRateLimit: (request, deadlineMs) =>
      unary<ClientResponse>(client, "ShouldRateLimit", request, deadlineMs),
    startCall(request) {
      let call: AnyClient;
      const done = new Promise((resolve) => {
        call = client.ShouldRateLimit(
          request,
          (error: unknown, response: unknown) => resolve(error ?? response),
        );
      });
      return { cancel: () => call.cancel(), done };
    },
    healthCheck: (service = "") => unary(healthClient, "Check", { service }),
    healthWatch: () =>
      new Promise((resolve) => {
        const call = healthClient.Watch({ service: "" });
        call.on("error", (error: unknown) => resolve(error));
        call.on("data", () => {});
      }),
    close() {
      client.close();
      healthClient.close();
    },
  };
}

/** The gRPC status code of a failed call. */
export function grpcCode(error: unknown): number | undefined {
  return (error as { code?: number })?.code;
}

export { grpc };
