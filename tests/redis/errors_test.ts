import assert from "node:assert/strict";
import { ErrorReply, SimpleError } from "redis";
import { StoreUnavailableError } from "../../src/errors.ts";
import {
  callFailure,
  failureKind,
  isNoScript,
  replyCode,
  storeUnavailable,
} from "../../src/redis/errors.ts";

const oom = () => new ErrorReply("OOM command not allowed when used memory > 'maxmemory'.");
const offline = () => new Error("The client is offline");

Deno.test("failureKind() tells an error reply (RESP2 or RESP3) from a connection failure", () => {
  assert.equal(failureKind(oom()), "reply");
  assert.equal(failureKind(new SimpleError("ERR wrong number of arguments")), "reply");
  assert.equal(failureKind(offline()), "connection");
  assert.equal(failureKind("not even an error"), "connection");
});

Deno.test("storeUnavailable() sets kind and cause, and passes a StoreUnavailableError through", () => {
  const reply = storeUnavailable(oom());
  assert.ok(reply instanceof StoreUnavailableError);
  assert.equal(reply.kind, "reply");
  assert.equal(replyCode(reply.cause), "OOM");
  assert.match(reply.message, /^Redis did not answer: OOM/);
  const connection = storeUnavailable(offline());
  assert.equal(connection.kind, "connection");
  assert.equal(connection.message, "Redis did not answer: The client is offline");
  const already = new StoreUnavailableError("already", { kind: "timeout" });
  assert.equal(storeUnavailable(already), already);
});

Deno.test("callFailure() makes 'cannot serve now' a StoreUnavailableError with no kind", () => {
  const reply = callFailure(oom());
  assert.ok(reply instanceof StoreUnavailableError);
  assert.equal(reply.kind, undefined);
  assert.match(reply.message, /^Redis cannot serve now: OOM/);
  const connection = callFailure(offline());
  assert.ok(connection instanceof StoreUnavailableError);
  assert.equal(connection.message, "Redis did not answer: The client is offline");
  // A wrong command or a script bug stays as it is: a 500, not a 503.
  const wrong = new ErrorReply("ERR unknown command 'NOPE'");
  assert.equal(callFailure(wrong), wrong);
});

Deno.test("isNoScript() recognises only the NOSCRIPT reply", () => {
  assert.equal(isNoScript(new ErrorReply("NOSCRIPT No matching script.")), true);
  assert.equal(isNoScript(new Error("NOSCRIPT but not a reply")), false);
  assert.equal(isNoScript(oom()), false);
});
