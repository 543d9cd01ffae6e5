/**
 * The benchmark's floor on the embedded store: a bare `Deno.serve` handler that parses the same
 * JSON and makes the same `MemoryStore.check` call as the service, and nothing else.
 *
 *   deno run --allow-net bench/floor_memory.ts --port 9101
 *
 * @module
 */
import { parseArgs } from "node:util";
import { MemoryStore } from "../src/store/memory_store.ts";

const { values } = parseArgs({ args: Deno.args, options: { port: { type: "string" } } });
const store = new MemoryStore();
const json = { "content-type": "application/json" };

Deno.serve(
  { hostname: "127.0.0.1", port: Number(values.port ?? 9101), onListen: () => {} },
  async (req) => {
    if (req.method === "GET") return new Response('{"status":"ok"}', { headers: json });
    const body = JSON.parse(await req.text());
    const outcome = await store.check([{
      key: body.key,
      algorithm: "sliding_log",
      limit: body.limit ?? 100,
      windowMs: body.window_ms ?? 60_000,
      cost: 1,
    }]);
    const decision = outcome.decisions[0]!;
    return new Response(`{"allowed":${outcome.allowed},"remaining":${decision.remaining}}`, {
      status: outcome.allowed ? 200 : 429,
      headers: json,
    });
  },
);
