/**
 * Table-driven bad input: every case against every route, checking the status, the error shape
 * and that no counter changed. A new route is one row of {@linkcode ROUTES}.
 *
 * @module
 */
import assert from "node:assert/strict";
import { makeTestApp } from "../_helpers/app.ts";

/** One route: its method and path, and for routes that take JSON a valid body and its required fields. */
interface RouteSpec {
  method: string;
  path: string;
  /** A body the route accepts; `undefined` for routes without a body. */
  body?: Record<string, unknown>;
  /** Fields that may not be left out. @default {[]} */
  required?: string[];
  /** Largest body the route takes, in bytes. @default {64 KiB} */
  maxBody?: number;
}

const ROUTES: RouteSpec[] = [
  {
    method: "POST",
    path: "/check",
    body: { key: "valid-key", limit: 5, window_ms: 1000 },
    required: ["key"],
  },
  { method: "GET", path: "/check/valid-key" },
  {
    method: "POST",
    path: "/check/batch",
    body: { checks: [{ key: "valid-key", limit: 5, window_ms: 1000 }] },
    required: ["checks"],
    maxBody: 1024 * 1024,
  },
  // GET /check/{key} with the key "batch": a peek, so GET is allowed on this path too.
  { method: "GET", path: "/check/batch", maxBody: 1024 * 1024 },
  { method: "GET", path: "/health" },
  { method: "GET", path: "/ready" },
  { method: "GET", path: "/metrics" },
  { method: "GET", path: "/api/nodes" },
  { method: "GET", path: "/api/limits" },
  { method: "GET", path: "/api/limits/valid-key" },
  {
    method: "PUT",
    path: "/api/limits/valid-key",
    body: { limit: 5, window_ms: 1000 },
    required: ["limit"],
  },
  { method: "DELETE", path: "/api/limits/valid-key" },
  { method: "GET", path: "/api/counters" },
  { method: "GET", path: "/api/blocks" },
  { method: "POST", path: "/api/counters/valid-key/reset" },
];

/** An unknown route, tried with every case that does not need a known one. */
const UNKNOWN: RouteSpec = { method: "GET", path: "/no-such-route" };

interface BadCase {
  name: string;
  path: string;
  init: RequestInit;
  status: number;
  code: string;
}

const JSON_TYPE: Record<string, string> = { "content-type": "application/json" };
/** One byte more than `route` takes. */
function oversize(route: RouteSpec): number {
  return (route.maxBody ?? 64 * 1024) + 1;
}

function post(route: RouteSpec, body: BodyInit, headers: Record<string, string> = JSON_TYPE) {
  return { method: route.method, headers, body };
}

/** Cases any route must reject, whatever it does. */
function genericCases(route: RouteSpec, allowed: string[]): BadCase[] {
  const cases: BadCase[] = [];
  for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE", "PROPFIND", "FOO"]) {
    if (allowed.includes(method)) continue;
    cases.push({
      name: `method ${method}`,
      path: route.path,
      init: { method },
      status: 405,
      code: "method_not_allowed",
    });
  }
  const init = { method: route.method, headers: route.body ? JSON_TYPE : {} } as RequestInit;
  if (route.body) init.body = JSON.stringify(route.body);
  cases.push(
    {
      name: "a path over 2 KiB",
      path: `${route.path}/${"a".repeat(2100)}`,
      init,
      status: 414,
      code: "uri_too_long",
    },
    {
      name: "a query string over 2 KiB",
      path: `${route.path}?q=${"a".repeat(2100)}`,
      init,
      status: 414,
      code: "uri_too_long",
    },
    { name: "NUL in the path", path: `${route.path}%00`, init, status: 400, code: "invalid_path" },
    {
      name: "invalid UTF-8 in the path",
      path: `${route.path}%FF`,
      init,
      status: 400,
      code: "invalid_path",
    },
    {
      name: "NUL in the query",
      path: `${route.path}?q=a%00b`,
      init,
      status: 400,
      code: "invalid_query",
    },
    {
      name: "invalid UTF-8 in the query",
      path: `${route.path}?q=%C3%28`,
      init,
      status: 400,
      code: "invalid_query",
    },
    {
      name: "a declared body over 64 KiB",
      path: route.path,
      init: {
        method: route.method,
        headers: { ...JSON_TYPE, "content-length": String(oversize(route)) },
      },
      status: 413,
      code: "payload_too_large",
    },
  );
  return cases;
}

const LONE_SURROGATE = "\ud800";
/** Raw JSON values (as text) no integer field may take. */
const BAD_NUMBERS = [
  '"5"',
  "null",
  "true",
  "[]",
  "{}",
  "-1",
  "1.5",
  "-0.5",
  "9007199254740993",
  "1e400",
  "-1e400",
  "1e21",
];
/** Raw JSON values no string field (a key) may take. */
const BAD_STRINGS = [
  "5",
  "null",
  "true",
  "[]",
  "{}",
  '""',
  JSON.stringify("x".repeat(513)),
  JSON.stringify("é".repeat(257)),
  JSON.stringify("a\u0000b"),
  `"a${"\\ud800"}b"`,
  JSON.stringify("😀".repeat(129)),
];

/** Cases for routes that take a JSON body: malformed bodies and each field spoiled in turn. */
function bodyCases(route: RouteSpec): BadCase[] {
  const valid = route.body!;
  const cases: BadCase[] = [];
  const bad = (
    name: string,
    body: BodyInit,
    status = 400,
    code = "invalid_request",
    h = JSON_TYPE,
  ) => cases.push({ name, path: route.path, init: post(route, body, h), status, code });
  bad("no content type", JSON.stringify(valid), 415, "unsupported_media_type", {});
  bad("a text/plain body", JSON.stringify(valid), 415, "unsupported_media_type", {
    "content-type": "text/plain",
  });
  bad("a form body", "key=k", 415, "unsupported_media_type", {
    "content-type": "application/x-www-form-urlencoded",
  });
  for (const text of ["", "{", "{not json", '{"key":"k"} x', "nul", "'k'", "{'key':'k'}"]) {
    bad(`malformed JSON ${JSON.stringify(text)}`, text, 400, "invalid_json");
  }
  for (const text of ["[]", '"text"', "5", "null", "true", "[{}]"]) {
    bad(`JSON ${text} instead of an object`, text);
  }
  bad(
    "invalid UTF-8",
    new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
    400,
    "invalid_utf8",
  );
  bad("a NUL byte outside strings", `{"key":"k"\u0000}`, 400, "invalid_json");
  bad(`a lone surrogate ${JSON.stringify(LONE_SURROGATE)} escaped`, '{"key":"\\udc00"}');
  bad(
    "a streamed body over 64 KiB",
    new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`{"key":"${"x".repeat(oversize(route))}"}`));
        controller.close();
      },
    }),
    413,
    "payload_too_large",
  );
  bad("an unknown field", JSON.stringify({ ...valid, zz_unknown: 1 }));
  bad("a prototype-polluting field", `{"__proto__":{"limit":1},${JSON.stringify(valid).slice(1)}`);
  for (const field of route.required ?? []) {
    const { [field]: _, ...rest } = valid;
    bad(`no ${field}`, JSON.stringify(rest));
  }
  for (const [field, value] of Object.entries(valid)) {
    const spoiled = typeof value === "number" ? BAD_NUMBERS : BAD_STRINGS;
    // Since issue 11, null in an optional field means absent (tests/http/routes/*_test.ts check
    // that it is accepted); in a required field it is still a 400.
    const optional = !(route.required ?? []).includes(field);
    for (const raw of spoiled.filter((raw) => !(optional && raw === "null"))) {
      const others = Object.entries(valid)
        .filter(([f]) => f !== field)
        .map(([f, v]) => `${JSON.stringify(f)}:${JSON.stringify(v)}`);
      bad(`${field} = ${raw.slice(0, 40)}`, `{${[...others, `"${field}":${raw}`].join(",")}}`);
    }
  }
  return cases;
}

function allowedMethods(path: string): string[] {
  const methods = ROUTES.filter((r) => r.path === path).map((r) => r.method);
  return methods.includes("GET") ? [...methods, "HEAD"] : methods;
}

function casesFor(route: RouteSpec): BadCase[] {
  const cases = genericCases(route, allowedMethods(route.path));
  if (route.body !== undefined) cases.push(...bodyCases(route));
  return cases;
}

async function checkedTotals(app: ReturnType<typeof makeTestApp>["app"]): Promise<string[]> {
  const text = await (await app.request("/metrics")).text();
  return text.split("\n").filter((l) => l.startsWith("ratelimiter_requests_checked_total"));
}

Deno.test("every route rejects every bad input with a 4xx JSON error and changes nothing", async (t) => {
  const { app, store } = makeTestApp();
  const totalsBefore = await checkedTotals(app);
  let count = 0;
  for (const route of [...ROUTES, UNKNOWN]) {
    const cases = route === UNKNOWN
      ? genericCases(route, []).map((c) =>
        c.status === 405 ? { ...c, status: 404, code: "not_found" } : c
      )
      : casesFor(route);
    await t.step(`${route.method} ${route.path}`, async (t) => {
      for (const c of cases) {
        await t.step(c.name, async () => {
          const res = await app.request(c.path, c.init);
          assert.equal(res.status, c.status);
          assert.ok(res.status >= 400 && res.status < 500);
          assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
          const body = await res.json();
          assert.equal(body.error.code, c.code);
          assert.equal(typeof body.error.message, "string");
          assert.ok(body.error.message.length > 0);
          assert.match(body.error.message, /^[A-Z]/, "sentence case");
          if (c.status === 405) {
            const allow = res.headers.get("Allow")?.split(", ") ?? [];
            assert.deepEqual(allow.sort(), allowedMethods(route.path).sort());
          }
          count++;
        });
      }
    });
  }
  assert.ok(count > 100, `only ${count} cases ran`);
  assert.equal(await store.countCounters(), 0);
  assert.deepEqual(await checkedTotals(app), totalsBefore);
  // The table's valid bodies are accepted, so "nothing changed" above means something.
  for (const route of ROUTES.filter((r) => r.body !== undefined)) {
    const res = await app.request(route.path, post(route, JSON.stringify(route.body)));
    assert.equal(res.status, 200, `${route.method} ${route.path}: ${await res.text()}`);
  }
  assert.equal(await store.countCounters(), 1);
});

Deno.test("HEAD answers like GET without a body; OPTIONS and HEAD elsewhere get 405 with Allow", async () => {
  const { app } = makeTestApp();
  const head = await app.request("/health", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  const headCheck = await app.request("/check", { method: "HEAD" });
  assert.equal(headCheck.status, 405);
  assert.equal(headCheck.headers.get("Allow"), "POST");
  const options = await app.request("/check", { method: "OPTIONS" });
  assert.equal(options.status, 405);
  assert.equal(options.headers.get("Allow"), "POST");
  assert.equal((await options.json()).error.code, "method_not_allowed");
  const optionsHealth = await app.request("/health", { method: "OPTIONS" });
  assert.equal(optionsHealth.headers.get("Allow"), "GET, HEAD");
});
