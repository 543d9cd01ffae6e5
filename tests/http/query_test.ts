import assert from "node:assert/strict";
import { ApiError } from "../../src/errors.ts";
import { readQuery } from "../../src/http/query.ts";

/** The error `fn` throws, which must be an {@linkcode ApiError}. */
function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ApiError);
    return error;
  }
  assert.fail("expected an ApiError");
}

Deno.test("readQuery() decodes the query like URLSearchParams, into an object with no prototype", () => {
  const query = readQuery("http://h/check/k?limit=5&prefix=a+b%2Fc&__proto__=x");
  assert.equal(Object.getPrototypeOf(query), null);
  assert.deepEqual({ ...query }, { limit: "5", prefix: "a b/c", ["__proto__"]: "x" });
  assert.deepEqual({ ...readQuery("http://h/check/k") }, {});
});

Deno.test("readQuery() rejects a parameter outside the allowed list, then one given twice", () => {
  const unknown = apiError(() => readQuery("http://h/x?limit=1&limt=2&limt=3", ["limit"]));
  assert.equal(unknown.status, 400);
  assert.equal(unknown.code, "invalid_request");
  assert.deepEqual(unknown.details, [{ path: "limt", message: "unknown parameter" }]);
  const twice = apiError(() => readQuery("http://h/x?limit=1&limit=2", ["limit"]));
  assert.equal(twice.code, "invalid_request");
  assert.match(twice.message, /"limit" is given more than once/);
  assert.match(apiError(() => readQuery("http://h/x?a=1&a=1")).message, /more than once/);
});
