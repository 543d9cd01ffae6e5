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
  const query = readQuery("http://h/check/k?limit=5&prefix=a+b%2Fc&__proto__=x", [
    "limit",
    "prefix",
    "__proto__",
  ]);
  assert.equal(Object.getPrototypeOf(query), null);
  assert.deepEqual({ ...query }, { limit: "5", prefix: "a b/c", ["__proto__"]: "x" });
  assert.deepEqual({ ...readQuery("http://h/check/k", ["limit"]) }, {});
});

Deno.test("readQuery() ignores unknown parameters by default, even given twice", () => {
  // The contract changed with issue 11: an unknown parameter was a 400, it is now left out.
  const query = readQuery("http://h/x?limit=1&limt=2&limt=3&_=17", ["limit"]);
  assert.deepEqual({ ...query }, { limit: "1" });
  assert.deepEqual({ ...readQuery("http://h/x?a=1", []) }, {});
});

Deno.test("readQuery() rejects unknown parameters with unknown: reject", () => {
  const unknown = apiError(() =>
    readQuery("http://h/x?limit=1&limt=2&limt=3", ["limit"], { unknown: "reject" })
  );
  assert.equal(unknown.status, 400);
  assert.equal(unknown.code, "invalid_request");
  assert.deepEqual(unknown.details, [{ path: "limt", message: "unknown parameter" }]);
  const none = apiError(() => readQuery("http://h/x?force=1", [], { unknown: "reject" }));
  assert.match(none.message, /expected no parameters/);
});

Deno.test("readQuery() rejects a known parameter given twice, whatever the unknown ones do", () => {
  const twice = apiError(() => readQuery("http://h/x?limit=1&limit=2", ["limit"]));
  assert.equal(twice.status, 400);
  assert.equal(twice.code, "invalid_request");
  assert.match(twice.message, /"limit" is given more than once/);
  assert.match(
    apiError(() => readQuery("http://h/x?a=1&a=1", ["a"], { unknown: "reject" })).message,
    /more than once/,
  );
});
