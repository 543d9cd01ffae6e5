/**
 * The benchmark's floor on the embedded store: a bare `Deno.serve` handler that parses the same
 * JSON, makes the same `MemoryStore.check` call as the service and sends the same answer (JSON
 * fields and rate-limit headers, built with the service's own cheapest helper), and nothing else.
 *
 * `--answer minimal` answers `{"allowed","remaining"}` with only `Content-Type` instead, as the
 * first version of this floor did: it also leaves out the cost of the protocol's answer.
 *
 *   deno run --allow-net bench/floor_memory.ts --port 9101
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { LimitRequest } from "../src/limiter/types.ts";
import { checkResponse, toAnswer } from "../src/http/routes/check.ts";
import { MemoryStore } from "../src/store/memory_store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string" }, answer: { type: "string" } },
});
const full = (values.answer ?? "full") === "full";
const store = new MemoryStore();
const json = { "content-type": "application/json" };

Deno.serve(
  { hostname: "127.0.0.1", port: Number(values.port ?? 9101), onListen: () => {} },
  async (req) => {
    if (req.method === "GET") return new Response('{"status":"ok"}', { headers: json });
    const body = JSON.parse(await req.text());
    const request: LimitRequest = {
      key: body.key,
      algorithm: "sliding_log",
      limit: body.limit ?? 100,
      windowMs: body.window_ms ?? 60_000,
      cost: 1,
    };
    const outcome = await store.check([request]);
    const decision = outcome.decisions[0]!;
    if (!full) {
      return new Response(`{"allowed":${outcome.allowed},"remaining":${decision.remaining}}`, {
        status: outcome.allowed ? 200 : 429,
        headers: json,
      });
    }
    return checkResponse(toAnswer(request, decision), outcome.degraded);
  },
);
