/**
 * The conformance table of the Envoy protocol: the behaviours envoyproxy/ratelimit's own service,
 * config and integration tests check, each a step sent through a real gRPC client. Run on the
 * embedded store (`conformance_test.ts`) and on Redis (`tests/integration/envoy_redis_test.ts`).
 * Hour-long windows, so no step crosses a window boundary by chance on a store with a real clock.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ClientRequest, type ClientStatus, grpcCode, type RlsClient } from "./_grpc_client.ts";
import { parseRules } from "../../src/rules/parse_rules.ts";

/** The rules of the table, one domain per behaviour, in the rules file's format. */
export const CONFORMANCE_YAML = `
domain: basic
descriptors:
  - key: user
    rate_limit: { unit: hour, requests_per_unit: 3, name: per_user }
---
domain: two
descriptors:
  - key: a
    rate_limit: { unit: hour, requests_per_unit: 5 }
  - key: b
    rate_limit: { unit: hour, requests_per_unit: 1 }
---
domain: nested
descriptors:
  - key: service
    value: api
    rate_limit: { unit: hour, requests_per_unit: 10 }
    descriptors:
      - key: user
        rate_limit: { unit: hour, requests_per_unit: 2 }
---
domain: wildcard
descriptors:
  - key: path
    value: /admin
    rate_limit: { unit: hour, requests_per_unit: 1 }
  - key: path
    value: /api/*
    rate_limit: { unit: hour, requests_per_unit: 2 }
  - key: path
    rate_limit: { unit: hour, requests_per_unit: 4 }
---
domain: unlimited
descriptors:
  - key: vip
    rate_limit: { unlimited: true }
---
domain: replaces
descriptors:
  - key: a
    rate_limit: { unit: hour, requests_per_unit: 1, name: small }
  - key: b
    rate_limit: { unit: hour, requests_per_unit: 100, name: big, replaces: [{ name: small }] }
---
domain: shadow
descriptors:
  - key: s
    shadow_mode: true
    rate_limit: { unit: hour, requests_per_unit: 1 }
---
domain: hits
descriptors:
  - key: h
    rate_limit: { unit: hour, requests_per_unit: 5 }
---
domain: override
descriptors:
  - key: o
    rate_limit: { unit: hour, requests_per_unit: 100 }
---
domain: year
descriptors:
  - key: y
    rate_limit: { unit: year, requests_per_unit: 5000000 }
---
domain: long
descriptors:
  - key: k
    rate_limit: { unit: hour, requests_per_unit: 1 }
`;

/** {@linkcode CONFORMANCE_YAML} loaded by the service's own rules parser. */
export const CONFORMANCE_RULES = parseRules([{ name: "conformance.yaml", text: CONFORMANCE_YAML }]);

const call = (domain: string, entries: [string, string][][], extra: Partial<ClientRequest> = {}) =>
  ({
    domain,
    descriptors: entries.map((e) => ({ entries: e.map(([key, value]) => ({ key, value })) })),
    ...extra,
  }) satisfies ClientRequest;

function limited(status: ClientStatus, code: string, remaining: number, perUnit: number) {
  assert.equal(status.code, code);
  assert.equal(status.limit_remaining, remaining);
  assert.equal(status.current_limit?.requests_per_unit, perUnit);
}

function unlimitedStatus(status: ClientStatus) {
  assert.equal(status.code, "OK");
  assert.equal(status.current_limit, null);
  assert.equal(status.limit_remaining, 0);
}

/** Options of {@linkcode runConformance}. */
export interface ConformanceOptions {
  /**
   * Whether the descriptors of one request are decided atomically (one Redis, the embedded store);
   * `false` on Redis Cluster, where each counter is decided on its own slot, as the reference does.
   * @default {true}
   */
  atomic?: boolean;
}

/** Runs every step of the table against `client` (a server with {@linkcode CONFORMANCE_RULES}). */
export async function runConformance(
  t: Deno.TestContext,
  client: RlsClient,
  options: ConformanceOptions = {},
): Promise<void> {
  const atomic = options.atomic ?? true;
  const rls = client.shouldRateLimit;

  await t.step(
    "basic limit: exact remaining, then OVER_LIMIT, current_limit and reset",
    async () => {
      const req = call("basic", [[["user", "alice"]]]);
      for (const remaining of [2, 1, 0]) {
        const res = await rls(req);
        assert.equal(res.overall_code, "OK");
        limited(res.statuses[0]!, "OK", remaining, 3);
        assert.deepEqual(res.statuses[0]!.current_limit, {
          name: "per_user",
          requests_per_unit: 3,
          unit: "HOUR",
        });
        const reset = res.statuses[0]!.duration_until_reset!;
        assert.ok(reset.seconds > 0 && reset.seconds <= 3600, JSON.stringify(reset));
      }
      const over = await rls(req);
      assert.equal(over.overall_code, "OVER_LIMIT");
      limited(over.statuses[0]!, "OVER_LIMIT", 0, 3);
      // Another value of the same default rule has a counter of its own.
      limited((await rls(call("basic", [[["user", "bob"]]]))).statuses[0]!, "OK", 2, 3);
    },
  );

  await t.step(
    `two descriptors: statuses in request order, ${
      atomic ? "atomic" : "each on its own"
    } when one is over`,
    async () => {
      const both = call("two", [[["a", "x"]], [["b", "x"]]]);
      let res = await rls(both);
      assert.equal(res.overall_code, "OK");
      assert.equal(res.statuses.length, 2);
      limited(res.statuses[0]!, "OK", 4, 5);
      limited(res.statuses[1]!, "OK", 0, 1);
      res = await rls(both);
      assert.equal(res.overall_code, "OVER_LIMIT");
      // Atomic: `a` fits on its own but consumed nothing, the request was over `b`. Across slots
      // of a cluster: `a` consumed, as in envoyproxy/ratelimit.
      limited(res.statuses[0]!, "OK", atomic ? 4 : 3, 5);
      limited(res.statuses[1]!, "OVER_LIMIT", 0, 1);
      res = await rls(call("two", [[["a", "x"]]]));
      limited(res.statuses[0]!, "OK", atomic ? 3 : 2, 5);
    },
  );

  await t.step("nested: the rule of the node matched by the last entry applies", async () => {
    const res = await rls(call("nested", [[["service", "api"], ["user", "u1"]], [[
      "service",
      "api",
    ]]]));
    limited(res.statuses[0]!, "OK", 1, 2);
    limited(res.statuses[1]!, "OK", 9, 10);
    // An entry the nested level does not know matches nothing.
    unlimitedStatus((await rls(call("nested", [[["service", "api"], ["x", "1"]]]))).statuses[0]!);
    unlimitedStatus((await rls(call("nested", [[["service", "web"]]]))).statuses[0]!);
  });

  await t.step("wildcard: exact value, then wildcard, then the key's default", async () => {
    const res = await rls(call("wildcard", [
      [["path", "/admin"]],
      [["path", "/api/users"]],
      [["path", "/other"]],
    ]));
    limited(res.statuses[0]!, "OK", 0, 1);
    limited(res.statuses[1]!, "OK", 1, 2);
    limited(res.statuses[2]!, "OK", 3, 4);
  });

  await t.step("unknown domain and no matching rule: OK with no limit", async () => {
    const res = await rls(call("nowhere", [[["user", "alice"]], [["x", "y"]]]));
    assert.equal(res.overall_code, "OK");
    res.statuses.forEach(unlimitedStatus);
    unlimitedStatus((await rls(call("basic", [[["nokey", "v"]]]))).statuses[0]!);
  });

  await t.step("unlimited: never limited", async () => {
    for (let i = 0; i < 5; i++) {
      const res = await rls(call("unlimited", [[["vip", "v"]]], { hits_addend: 1000 }));
      assert.equal(res.overall_code, "OK");
      unlimitedStatus(res.statuses[0]!);
    }
  });

  await t.step("replaces: a matched rule drops the rule it replaces", async () => {
    const res = await rls(call("replaces", [[["a", "1"]], [["b", "1"]]]));
    unlimitedStatus(res.statuses[0]!);
    limited(res.statuses[1]!, "OK", 99, 100);
    // Alone, `small` applies.
    limited((await rls(call("replaces", [[["a", "2"]]]))).statuses[0]!, "OK", 0, 1);
  });

  await t.step("shadow mode: OK even over the limit", async () => {
    const req = call("shadow", [[["s", "1"]]]);
    limited((await rls(req)).statuses[0]!, "OK", 0, 1);
    const res = await rls(req);
    assert.equal(res.overall_code, "OK");
    limited(res.statuses[0]!, "OK", 0, 1);
  });

  await t.step("hits_addend > 1 (request) and per descriptor, which wins", async () => {
    let res = await rls(call("hits", [[["h", "r"]]], { hits_addend: 3 }));
    limited(res.statuses[0]!, "OK", 2, 5);
    res = await rls(call("hits", [[["h", "r"]]], { hits_addend: 3 }));
    limited(res.statuses[0]!, "OVER_LIMIT", 0, 5);
    // Over: nothing consumed, so 2 still fit.
    res = await rls(call("hits", [[["h", "r"]]], { hits_addend: 2 }));
    limited(res.statuses[0]!, "OK", 0, 5);
    const mixed = {
      domain: "hits",
      hits_addend: 3,
      descriptors: [
        { entries: [{ key: "h", value: "m1" }] },
        { entries: [{ key: "h", value: "m2" }], hits_addend: { value: 1 } },
      ],
    };
    res = await rls(mixed);
    limited(res.statuses[0]!, "OK", 2, 5);
    limited(res.statuses[1]!, "OK", 4, 5);
  });

  await t.step("hits_addend 0: looks without consuming", async () => {
    const look = {
      domain: "hits",
      descriptors: [{ entries: [{ key: "h", value: "z" }], hits_addend: { value: 0 } }],
    };
    for (let i = 0; i < 3; i++) limited((await rls(look)).statuses[0]!, "OK", 5, 5);
    await rls(call("hits", [[["h", "z"]]], { hits_addend: 5 }));
    // Full: a look is still OK (the counter is at, not over, the limit), with 0 remaining.
    const res = await rls(look);
    assert.equal(res.overall_code, "OK");
    limited(res.statuses[0]!, "OK", 0, 5);
    assert.equal((await rls(call("hits", [[["h", "z"]]]))).overall_code, "OVER_LIMIT");
  });

  await t.step("a descriptor's own limit beats the rule's", async () => {
    const req = {
      domain: "override",
      descriptors: [{
        entries: [{ key: "o", value: "1" }],
        limit: { requests_per_unit: 2, unit: "DAY" },
      }],
    };
    let res = await rls(req);
    assert.deepEqual(res.statuses[0]!.current_limit, {
      name: "",
      requests_per_unit: 2,
      unit: "DAY",
    });
    limited(res.statuses[0]!, "OK", 1, 2);
    await rls(req);
    res = await rls(req);
    limited(res.statuses[0]!, "OVER_LIMIT", 0, 2);
    // Unknown domain: no limit, even with an override (as the reference).
    unlimitedStatus((await rls({ ...req, domain: "nowhere" })).statuses[0]!);
  });

  await t.step("rule limits beyond the HTTP bounds (a year, 5,000,000) are accepted", async () => {
    const res = await rls(call("year", [[["y", "1"]]], { hits_addend: 4_000_000 }));
    limited(res.statuses[0]!, "OK", 1_000_000, 5_000_000);
    assert.equal(res.statuses[0]!.current_limit!.unit, "YEAR");
  });

  await t.step(
    "a descriptor whose key would exceed 512 bytes has a counter of its own",
    async () => {
      const long = "v".repeat(600);
      limited((await rls(call("long", [[["k", long]]]))).statuses[0]!, "OK", 0, 1);
      limited((await rls(call("long", [[["k", long]]]))).statuses[0]!, "OVER_LIMIT", 0, 1);
      limited((await rls(call("long", [[["k", long + "2"]]]))).statuses[0]!, "OK", 0, 1);
    },
  );

  await t.step(
    "INVALID_ARGUMENT: empty domain, no descriptors, unknown override unit",
    async () => {
      const cases: ClientRequest[] = [
        call("", [[["user", "a"]]]),
        { domain: "basic", descriptors: [] },
        {
          domain: "basic",
          descriptors: [{
            entries: [{ key: "user", value: "a" }],
            limit: { requests_per_unit: 1, unit: 0 },
          }],
        },
      ];
      for (const request of cases) {
        await assert.rejects(rls(request), (error) => grpcCode(error) === 3);
      }
    },
  );

  await t.step("health: SERVING, NOT_FOUND for another service, Watch UNIMPLEMENTED", async () => {
    assert.deepEqual(await client.healthCheck(), { status: "SERVING" });
    assert.deepEqual(await client.healthCheck("envoy.service.ratelimit.v3.RateLimitService"), {
      status: "SERVING",
    });
    await assert.rejects(client.healthCheck("other"), (error) => grpcCode(error) === 5);
    assert.equal(grpcCode(await client.healthWatch()), 12);
  });
}
