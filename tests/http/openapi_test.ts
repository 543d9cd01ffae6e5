import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { z } from "zod";
import {
  batchAnswerSchema,
  blocksAnswerSchema,
  buildOpenApiDocument,
  checkAnswerSchema,
  clusterAnswerSchema,
  countersAnswerSchema,
  errorBodySchema,
  healthAnswerSchema,
  limitsAnswerSchema,
  multiCheckAnswerSchema,
  nodesAnswerSchema,
  overrideDeleteAnswerSchema,
  overridePutAnswerSchema,
  overrideViewSchema,
  readyAnswerSchema,
  resetAnswerSchema,
} from "../../src/http/openapi.ts";
import { DEFAULT_LIMITS_POLICY } from "../../src/limiter/limits_policy.ts";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";
import { MemoryRegistry } from "../../src/cluster/memory_registry.ts";
import { NodeRegistry } from "../../src/cluster/node_registry.ts";
import { FakeStore } from "../_helpers/fake_store.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { FailureModeStore } from "../../src/store/failure_mode_store.ts";

type Json = Record<string, unknown>;
type App = ReturnType<typeof makeTestApp>["app"];

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

async function fetchDocument(app: App): Promise<Json> {
  const res = await app.request("/openapi.json");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  return await res.json();
}

/** `METHOD /path` of every operation of `document`. */
function documentedRoutes(document: Json): string[] {
  const routes: string[] = [];
  for (const [path, item] of Object.entries(document.paths as Record<string, Json>)) {
    for (const method of Object.keys(item)) {
      if (METHODS.includes(method)) routes.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return routes.sort();
}

/** `METHOD /path` of every route of `app` (not middleware), its parameters as OpenAPI writes them. */
function appRoutes(app: App): string[] {
  const routes = new Set<string>();
  for (const route of app.routes) {
    if (route.method === "ALL") continue;
    const path = route.path.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}");
    routes.add(`${route.method} ${path}`);
  }
  return [...routes].sort();
}

/** The JSON Schema of `ref` in `document`, ready for ajv (references resolved within it). */
function validatorOf(document: Json) {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ $id: "doc", components: document.components });
  return (responseSchema: Json, value: unknown): void => {
    const schema = JSON.parse(
      JSON.stringify(responseSchema).replaceAll('"#/components/', '"doc#/components/'),
    );
    const valid = ajv.validate(schema, value);
    assert.ok(valid, `${JSON.stringify(value)}: ${ajv.errorsText(ajv.errors)}`);
  };
}

/** The documented schema of the `status` answer of `method path`. */
function responseSchema(document: Json, method: string, path: string, status: number): Json {
  const operation = (document.paths as Record<string, Record<string, Json>>)[path]?.[method];
  assert.ok(operation !== undefined, `${method} ${path} is documented`);
  const response = (operation.responses as Record<string, Json>)[String(status)];
  assert.ok(response !== undefined, `${method} ${path} documents a ${status}`);
  const content = response.content as Record<string, { schema: Json }>;
  return content["application/json"]!.schema;
}

Deno.test("GET /openapi.json is a valid OpenAPI 3.1 document", async () => {
  const { app } = makeTestApp();
  const document = await fetchDocument(app);
  const validator = new Validator();
  const result = await validator.validate(document);
  assert.equal(validator.version, "3.1");
  assert.deepEqual(result.errors, undefined, JSON.stringify(result.errors));
  assert.equal(result.valid, true);
});

Deno.test("GET /openapi.json documents every route of the app, and only those", async () => {
  const { app } = makeTestApp();
  const documented = documentedRoutes(await fetchDocument(app));
  const routes = appRoutes(app);
  assert.ok(routes.includes("POST /check/batch") && routes.includes("GET /check/{key}"));
  assert.deepEqual(documented, routes);
});

Deno.test("buildOpenApiDocument() puts bearer security on the admin reads only with readAuth", () => {
  const security = (readAuth: boolean) => {
    const paths = buildOpenApiDocument({ policy: DEFAULT_LIMITS_POLICY, readAuth })
      .paths as Record<string, Record<string, Json>>;
    return {
      read: paths["/api/counters"]!.get!.security,
      write: paths["/api/limits/{key}"]!.put!.security,
      reset: paths["/api/counters/{key}/reset"]!.post!.security,
      check: paths["/check"]!.post!.security,
    };
  };
  const bearer = [{ bearerAuth: [] }];
  assert.deepEqual(security(false), {
    read: undefined,
    write: bearer,
    reset: bearer,
    check: undefined,
  });
  assert.deepEqual(security(true), {
    read: bearer,
    write: bearer,
    reset: bearer,
    check: undefined,
  });
});

Deno.test("GET /openapi.json states the rules JSON Schema cannot, and the configured policy", async () => {
  const { app } = makeTestApp({ env: { RATELIMITER_MAX_LIMIT: "5000" } });
  const document = await fetchDocument(app);
  const schemas = (document.components as Json).schemas as Record<string, Json>;
  const check = schemas.CheckRequest!;
  assert.match(String(check.description), /Exactly one of `key`.*or `limits`/);
  const properties = check.properties as Record<string, Json>;
  assert.match(String(properties.key!.description), /512 bytes of UTF-8/);
  assert.match(String(properties.burst!.description), /gcra/);
  assert.match(String(properties.refill_rate!.description), /token_bucket/);
  assert.match(String(check.description), /`null` is the same as leaving it out/);
  assert.match(String(check.description), /limit, burst and refill_rate ≤ 5000/);
  // The body schema is the route's own: a field it rejects is not in the document.
  assert.equal(check.additionalProperties, false);
});

Deno.test("GET /openapi.json documents the rate-limit headers and the error answers", async () => {
  const { app } = makeTestApp();
  const document = await fetchDocument(app);
  const paths = document.paths as Record<string, Record<string, Json>>;
  const responses = paths["/check"]!.post!.responses as Record<string, Json>;
  const headers429 = Object.keys(responses["429"]!.headers as Json).sort();
  assert.deepEqual(headers429, [
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "X-RateLimit-Degraded",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
  ]);
  for (const code of ["invalid_json", "invalid_request", "policy_violation"]) {
    assert.match(String(responses["400"]!.description), new RegExp(`\`${code}\``));
  }
  assert.match(String(responses["503"]!.description), /`store_full`, `store_unavailable`/);
  const put = paths["/api/limits/{key}"]!.put!.responses as Record<string, Json>;
  assert.match(String(put["401"]!.description), /`unauthorized`/);
  assert.match(String(put["409"]!.description), /`too_many_overrides`/);
});

/** Checks `body` against the documented schema and against the zod schema it was made from. */
function checkAnswer(
  validate: ReturnType<typeof validatorOf>,
  document: Json,
  request: string,
  status: number,
  body: unknown,
  schema: z.ZodType,
): void {
  const [method, path] = request.split(" ") as [string, string];
  validate(responseSchema(document, method.toLowerCase(), path, status), body);
  const parsed = schema.safeParse(body);
  assert.ok(parsed.success, `${request} ${status}: ${JSON.stringify(parsed.error?.issues)}`);
}

Deno.test("real answers match the documented response schemas", async () => {
  const token = "test-admin-token-0123456789";
  // A started registry, so /api/nodes and /api/cluster list this node.
  const registry = new NodeRegistry({
    backend: new MemoryRegistry(),
    id: "test-node",
    address: "127.0.0.1:8080",
    ttlSeconds: 30,
    heartbeatSeconds: 10,
    autoHeartbeat: false,
  });
  await registry.start();
  const { app } = makeTestApp({ env: { RATELIMITER_ADMIN_TOKEN: token }, registry });
  const document = await fetchDocument(app);
  const validate = validatorOf(document);
  const auth = { authorization: `Bearer ${token}` };
  const call = async (path: string, init?: RequestInit) => {
    const res = await app.request(path, init);
    return { status: res.status, body: await res.json() };
  };
  const expect = async (
    request: string,
    status: number,
    schema: z.ZodType,
    init?: RequestInit,
    url?: string,
  ) => {
    const [method, path] = request.split(" ") as [string, string];
    const answer = await call(url ?? path, { method, ...init });
    assert.equal(answer.status, status, `${request}: ${JSON.stringify(answer.body)}`);
    checkAnswer(validate, document, request, status, answer.body, schema);
    return answer.body;
  };

  const post = (body: unknown) => jsonRequest(body);
  await expect("POST /check", 200, checkAnswerSchema, post({ key: "a", limit: 1 }));
  await expect("POST /check", 429, checkAnswerSchema, post({ key: "a", limit: 1 }));
  await expect(
    "POST /check",
    200,
    checkAnswerSchema,
    post({ key: "g", algorithm: "gcra", burst: 2, limit: 5 }),
  );
  await expect(
    "POST /check",
    200,
    checkAnswerSchema,
    post({ key: "t", algorithm: "token_bucket", refill_rate: 2, limit: 5 }),
  );
  const multi = { limits: [{ key: "{t}:u", limit: 1 }, { key: "{t}:ip", limit: 5 }] };
  await expect("POST /check", 200, multiCheckAnswerSchema, post(multi));
  await expect("POST /check", 429, multiCheckAnswerSchema, post(multi));
  await expect("POST /check", 400, errorBodySchema, post({ key: "a", limits: [] }));
  await expect("POST /check", 400, errorBodySchema, post({ key: "a", limit: 20_000_000 }));
  await expect("POST /check", 400, errorBodySchema, post("{"));
  await expect(
    "POST /check/batch",
    200,
    batchAnswerSchema,
    post({ checks: [{ key: "a", limit: 1 }, multi, { key: "b" }] }),
  );
  await expect("GET /check/{key}", 200, checkAnswerSchema, {}, "/check/b?limit=3");
  await expect("GET /check/{key}", 429, checkAnswerSchema, {}, "/check/a?limit=1");
  await expect("GET /check/{key}", 400, errorBodySchema, {}, "/check/a?limit=x");
  await expect("GET /health", 200, healthAnswerSchema);
  await expect("GET /ready", 200, readyAnswerSchema);
  await expect("GET /api/nodes", 200, nodesAnswerSchema);
  const cluster = await expect("GET /api/cluster", 200, clusterAnswerSchema);
  assert.equal(cluster.nodes.length, 1);
  await expect(
    "PUT /api/limits/{key}",
    401,
    errorBodySchema,
    jsonRequest({ limit: 5 }, { method: "PUT" }),
    "/api/limits/k",
  );
  await expect(
    "PUT /api/limits/{key}",
    200,
    overridePutAnswerSchema,
    {
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ limit: 5, algorithm: "gcra", burst: 3 }),
    },
    "/api/limits/k",
  );
  await expect("GET /api/limits", 200, limitsAnswerSchema);
  await expect("GET /api/limits/{key}", 200, overrideViewSchema, {}, "/api/limits/k");
  await expect("GET /api/limits/{key}", 404, errorBodySchema, {}, "/api/limits/none");
  await expect("GET /api/counters", 200, countersAnswerSchema, {}, "/api/counters?limit=2");
  await expect("GET /api/counters", 400, errorBodySchema, {}, "/api/counters?limit=0");
  await expect("GET /api/blocks", 200, blocksAnswerSchema);
  await expect(
    "POST /api/counters/{key}/reset",
    200,
    resetAnswerSchema,
    { headers: auth },
    "/api/counters/a/reset",
  );
  await expect(
    "DELETE /api/limits/{key}",
    200,
    overrideDeleteAnswerSchema,
    { headers: auth },
    "/api/limits/k",
  );
});

Deno.test("answers of a failing store match the documented schemas", async () => {
  const store = new FakeStore();
  const { app } = makeTestApp({ store });
  const document = await fetchDocument(app);
  const validate = validatorOf(document);
  store.mode = "fail";
  const ready = await app.request("/ready");
  assert.equal(ready.status, 503);
  validate(responseSchema(document, "get", "/ready", 503), await ready.json());
  const check = await app.request("/check", jsonRequest({ key: "a" }));
  assert.equal(check.status, 503);
  assert.equal(check.headers.get("retry-after"), "1");
  const body = await check.json();
  validate(responseSchema(document, "post", "/check", 503), body);
  assert.ok(errorBodySchema.safeParse(body).success);
});

Deno.test("degraded answers of the open failure mode match the documented schemas", async () => {
  const inner = new FakeStore();
  const metrics = createMetrics({ nodeId: "test", defaultMetrics: false });
  const store = new FailureModeStore({ inner, failureMode: "open", liveNodes: () => 1, metrics });
  const { app } = makeTestApp({ store, metrics });
  const document = await fetchDocument(app);
  const validate = validatorOf(document);
  inner.mode = "fail";
  const check = await app.request("/check", jsonRequest({ key: "a" }));
  assert.equal(check.status, 200);
  assert.equal(check.headers.get("x-ratelimit-degraded"), "open");
  const answer = await check.json();
  assert.equal(answer.degraded, true);
  validate(responseSchema(document, "post", "/check", 200), answer);
  assert.ok(checkAnswerSchema.safeParse(answer).success);
  const batch = await app.request("/check/batch", jsonRequest({ checks: [{ key: "a" }] }));
  assert.equal(batch.headers.get("x-ratelimit-degraded"), "open");
  const results = await batch.json();
  validate(responseSchema(document, "post", "/check/batch", 200), results);
  assert.ok(batchAnswerSchema.safeParse(results).success);
});
