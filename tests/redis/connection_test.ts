import assert from "node:assert/strict";
import { ClientClosedError, ClientOfflineError, ErrorReply } from "redis";
import { isClusterTransient } from "../../src/redis/cluster.ts";
import { commandKey } from "../../src/redis/connection.ts";
import { describeTarget, parseRedisUrl, splitUrls } from "../../src/redis/target.ts";

Deno.test("commandKey() routes by the first key, scripts by their first KEYS entry", () => {
  assert.equal(commandKey(["GET", "a"]), "a");
  assert.equal(commandKey(["DEL", "a", "b"]), "a");
  assert.equal(commandKey(["EVALSHA", "sha", "2", "k1", "k2", "arg"]), "k1");
  assert.equal(commandKey(["evalsha", "sha", "0", "arg"]), undefined);
  for (const keyless of [["PING"], ["SCAN", "0"], ["SCRIPT", "LOAD", "x"], ["PUBLISH", "c", "m"]]) {
    assert.equal(commandKey(keyless), undefined, keyless[0]);
  }
});

Deno.test("parseRedisUrl() reads host, port, credentials, TLS and database", () => {
  assert.deepEqual(parseRedisUrl("rediss://app:p%40ss@cache.internal:6380/2"), {
    host: "cache.internal",
    port: 6380,
    username: "app",
    password: "p@ss",
    tls: true,
    database: 2,
  });
  assert.deepEqual(parseRedisUrl("redis://[::1]"), {
    host: "::1",
    port: 6379,
    username: undefined,
    password: undefined,
    tls: false,
    database: 0,
  });
  assert.throws(() => parseRedisUrl("http://h:1"), TypeError);
  assert.throws(() => parseRedisUrl("redis://h:1/x"), TypeError);
  assert.throws(
    () => parseRedisUrl("redis://:topsecret@h:1/x"),
    (e: Error) => !e.message.includes("topsecret"),
  );
});

Deno.test("splitUrls() and describeTarget(): lists, no password shown", () => {
  assert.deepEqual(splitUrls(" redis://a:1, redis://b:2 ,,"), ["redis://a:1", "redis://b:2"]);
  const text = describeTarget({
    mode: "sentinel",
    urls: ["redis://:pw1@s1:26379", "redis://:pw1@s2:26379"],
    sentinelMaster: "m",
    sentinelPassword: "pw2",
  });
  assert.ok(!text.includes("pw1") && !text.includes("pw2"), text);
  assert.match(text, /^sentinel .*s1:26379.*master "m"$/);
});

Deno.test("isClusterTransient(): TRYAGAIN, CLUSTERDOWN and unsent commands are retried, nothing else", () => {
  assert.equal(
    isClusterTransient(new ErrorReply("TRYAGAIN Multiple keys request during rehashing")),
    true,
  );
  assert.equal(isClusterTransient(new ErrorReply("CLUSTERDOWN The cluster is down")), true);
  assert.equal(isClusterTransient(new ClientOfflineError()), true);
  assert.equal(isClusterTransient(new ClientClosedError()), true);
  // Sent, then lost: it may have run, so it is not sent again.
  assert.equal(isClusterTransient(new Error("Socket closed unexpectedly")), false);
  assert.equal(isClusterTransient(new ErrorReply("NOSCRIPT No matching script")), false);
  assert.equal(
    isClusterTransient(new ErrorReply("CROSSSLOT Keys in request don't hash to the same slot")),
    false,
  );
});
