import { readJsonRequest as before } from "./body_base.ts";
import { readJsonRequest as after } from "../../src/http/body.ts";
const body = JSON.stringify({ key: "user:12345", limit: 1_000_000, window_ms: 60_000 });
const opts = { maxBytes: 65536, timeoutMs: 10_000 };
const req = () =>
  new Request("http://localhost/check", {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": String(body.length) },
    body,
  });
Deno.bench("before", { group: "body", baseline: true }, async () => {
  await before(req(), opts);
});
Deno.bench("after", { group: "body" }, async () => {
  await after(req(), opts);
});
Deno.bench("new Request only", { group: "body" }, async () => {
  await req().arrayBuffer();
});
