import assert from "node:assert/strict";
import { redactUrl } from "../../src/redis/redact.ts";

Deno.test("redactUrl() hides the password", () => {
  assert.equal(redactUrl("redis://user:hunter2@host:6379/0"), "redis://user:***@host:6379/0");
  assert.equal(redactUrl("redis://host:6379"), "redis://host:6379");
});

Deno.test("redactUrl() hides a password in a URL it cannot parse", () => {
  assert.equal(redactUrl("redis://:pa/ss@host:99999"), "redis://***@host:99999");
  assert.equal(redactUrl("redis:/:hunter2@host"), "redis:/***@host");
  assert.equal(redactUrl("not a url :hunter2@host"), "***@host");
});
