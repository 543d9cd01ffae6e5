import assert from "node:assert/strict";
import { redactUrl } from "../../src/redis/redact.ts";

Deno.test("redactUrl() hides the password", () => {
  assert.equal(redactUrl("redis://user:hunter2@host:6379/0"), "redis://user:***@host:6379/0");
  assert.equal(redactUrl("redis://host:6379"), "redis://host:6379");
});
