/**
 * The ceiling of an answer that needs no store: a `Deno.serve` handler that parses the JSON body
 * of `POST /check` and answers a fixed JSON, nothing else. A hot key answered by the over-limit
 * cache should come close to it (issue 16 asks for 0.9×).
 *
 *   deno run --allow-net bench/floor_parse.ts --port 9104
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({ args: Deno.args, options: { port: { type: "string" } } });
const json = { "content-type": "application/json" };
const FIXED = '{"allowed":false,"remaining":0}';

Deno.serve(
  { hostname: "127.0.0.1", port: Number(values.port ?? 9104), onListen: () => {} },
  async (req) => {
    if (req.method === "GET") return new Response('{"status":"ok"}', { headers: json });
    JSON.parse(await req.text());
    return new Response(FIXED, { status: 429, headers: json });
  },
);
