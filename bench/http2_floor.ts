/**
 * The floor of any gRPC server on Deno's `node:http2`: a handler that reads the request and answers
 * one fixed gRPC message with its status in the trailers, nothing else. `bench/grpc_vs_http.ts`
 * measures it beside the real server. Benchmark only.
 *
 *   deno run --allow-net bench/http2_floor.ts <port>
 *
 * @module
 */
import http2 from "node:http2";

/** `RateLimitResponse{overall_code: OK}`, framed. */
const ANSWER = new Uint8Array([0, 0, 0, 0, 2, 8, 1]);

const server = http2.createServer();
server.on("stream", (s) => {
  const stream = s as http2.ServerHttp2Stream;
  stream.on("error", () => {});
  stream.on("data", () => {});
  stream.on("end", () => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
      waitForTrailers: true,
    });
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(ANSWER);
  });
});
server.listen(Number(Deno.args[0]), "127.0.0.1");
