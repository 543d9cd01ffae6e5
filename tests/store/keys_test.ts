import { keySlot } from "../../src/redis/slot.ts";
import assert from "node:assert/strict";
import {
  activeCountersKey,
  activeCountersLockKey,
  counterKey,
  counterScanPattern,
  DEFAULT_KEY_PREFIX,
  eventsChannel,
  internalKeyPrefix,
  nodesKey,
  nodeStatsKey,
  overridesKey,
  overridesVersionKey,
  parseCounterKey,
  parseReferenceCounterKey,
  referenceCounterKey,
  referenceScanPattern,
  referenceSeqKey,
  slotTag,
} from "../../src/store/keys.ts";

const KEYS = [
  "user:1",
  "limit:x",
  "a/b c",
  "{tenant42}:user",
  "{tenant42}",
  "{}x",
  "{",
  "}",
  "{a{b}c}",
  "%7B",
  "日本語キー",
  "x".repeat(512),
];

Deno.test("counterKey() round-trips through parseCounterKey() for awkward keys", () => {
  for (const key of KEYS) {
    const redisKey = counterKey("rl", "sliding_log", key);
    assert.deepEqual(parseCounterKey("rl", redisKey), { algorithm: "sliding_log", key });
  }
});

Deno.test("counterKey() gives distinct keys distinct names", () => {
  const names = new Set(KEYS.map((k) => counterKey("rl", "sliding_log", k)));
  assert.equal(names.size, KEYS.length);
  assert.notEqual(counterKey("rl", "sliding_log", "abc"), counterKey("rl", "sliding_log", "{abc}"));
});

Deno.test("counterKey() puts exactly one hash tag in every name", () => {
  for (const key of KEYS) {
    const name = counterKey("rl", "sliding_log", key);
    const open = name.indexOf("{");
    const close = name.indexOf("}", open + 1);
    assert.ok(open > 0 && close > open + 1, name);
    assert.equal(name.indexOf("{", open + 1), -1, name);
  }
});

Deno.test("slotTag() shares a slot between keys with the same leading tag", () => {
  assert.equal(slotTag("{tenant42}:user"), "tenant42");
  assert.equal(slotTag("{tenant42}:ip"), "tenant42");
  assert.equal(slotTag("user:1"), "user:1");
  assert.equal(slotTag("{}x"), "{}x");
});

Deno.test("parseCounterKey() ignores internal and foreign keys", () => {
  assert.equal(parseCounterKey("rl", "rl:node:n1"), undefined);
  assert.equal(parseCounterKey("rl", "other:sl:{x}"), undefined);
  assert.equal(parseCounterKey("rl", "rl:zz:{x}"), undefined);
});

Deno.test("internal key builders name the documented keys, none of which a client key can name", () => {
  assert.equal(DEFAULT_KEY_PREFIX, "rl");
  const names = [
    nodesKey("rl"),
    overridesKey("rl"),
    overridesVersionKey("rl"),
    eventsChannel("rl"),
    activeCountersKey("rl"),
    activeCountersLockKey("rl"),
  ];
  assert.deepEqual(names, [
    "rl:nodes",
    "rl:overrides",
    "rl:overrides:version",
    "rl:events",
    "rl:active_counters",
    "rl:active_counters:lock",
  ]);
  for (const name of names) assert.equal(parseCounterKey("rl", name), undefined, name);
});

Deno.test("referenceCounterKey() and referenceSeqKey() name the original service's keys verbatim", () => {
  assert.equal(referenceCounterKey("user:1"), "ratelimit:user:1");
  assert.equal(referenceCounterKey("{t}x%"), "ratelimit:{t}x%");
  assert.equal(referenceSeqKey("user:1"), "ratelimit:user:1:seq");
});

Deno.test("parseReferenceCounterKey() reads back any key under ratelimit:, nothing else", () => {
  for (const key of ["user:1", "{t}x%", "a:seq"]) {
    assert.equal(parseReferenceCounterKey(referenceCounterKey(key)), key);
  }
  assert.equal(parseReferenceCounterKey("ratelimit:"), undefined);
  assert.equal(parseReferenceCounterKey("rl:sl:{user:1}"), undefined);
  assert.equal(parseReferenceCounterKey("ratelimiter:x"), undefined);
});

Deno.test("referenceScanPattern() escapes the glob characters of its start", () => {
  assert.equal(referenceScanPattern(), "ratelimit:*");
  assert.equal(referenceScanPattern("a*[b]"), "ratelimit:a\\*\\[b\\]*");
});

Deno.test("internalKeyPrefix(): one hash tag on a cluster, the plain prefix elsewhere", () => {
  assert.equal(internalKeyPrefix("rl", false), "rl");
  assert.equal(internalKeyPrefix("rl", true), "rl:{rl}");
  const internal = internalKeyPrefix("rl", true);
  const names = [
    nodesKey(internal),
    overridesKey(internal),
    overridesVersionKey(internal),
    activeCountersKey(internal),
    activeCountersLockKey(internal),
    nodeStatsKey(internal),
  ];
  assert.deepEqual(names, [
    "rl:{rl}:nodes",
    "rl:{rl}:overrides",
    "rl:{rl}:overrides:version",
    "rl:{rl}:active_counters",
    "rl:{rl}:active_counters:lock",
    "rl:{rl}:node_stats",
  ]);
  // One slot for all of them; none reads as a counter nor matches the counters' SCAN pattern.
  assert.equal(new Set(names.map(keySlot)).size, 1);
  const pattern = new RegExp(
    "^" + counterScanPattern("rl").replace(/[.+^$()|]/g, "\\$&").replace(/\*/g, ".*") + "$",
  );
  for (const name of names) {
    assert.equal(parseCounterKey("rl", name), undefined, name);
    assert.doesNotMatch(name, pattern, name);
  }
  assert.match(counterKey("rl", "fixed_window", "x"), pattern);
});
