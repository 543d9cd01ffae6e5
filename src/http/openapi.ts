/**
 * The OpenAPI 3.1 document of the HTTP API, served by `GET /openapi.json`. Request bodies and
 * query parameters are converted from the zod schemas the routes validate with, and answers from
 * the zod schemas below (which the route tests check real answers against), so the document
 * cannot drift from the code. What JSON Schema cannot say (exactly one of `key`/`limits`, key
 * length in UTF-8 bytes, `burst` only with gcra, the limits policy) is stated in descriptions.
 *
 * @module
 */
import { z } from "zod";
import { batchBodySchema, checkBodySchema, keySchema, peekQuerySchema } from "./check_input.ts";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, overrideBodySchema } from "./routes/admin.ts";
import { MAX_BATCH_BODY_BYTES } from "./routes/check.ts";
import { MAX_BODY_BYTES } from "./body.ts";
import {
  MAX_BATCH_CHECKS,
  MAX_KEY_BYTES,
  MAX_LIMIT,
  MAX_LIMITS_PER_CHECK,
  MAX_WINDOW_MS,
} from "../limiter/bounds.ts";
import type { LimitsPolicy } from "../limiter/limits_policy.ts";
import { ALGORITHMS } from "../limiter/types.ts";
import { RULE_UNITS, type RuleUnit } from "../rules/types.ts";
import { STORE_FULL_CODE } from "../store/memory_store.ts";
import { CIRCUIT_STATES } from "../store/circuit_breaker.ts";
import { VERSION } from "../version.ts";

const algorithmSchema = z.enum(ALGORITHMS);

/** zod schema of the answer of one check (`POST /check` with `key`, `GET /check/{key}`). */
export const checkAnswerSchema = z.strictObject({
  allowed: z.boolean(),
  key: z.string(),
  algorithm: algorithmSchema,
  current_count: z.number().min(0),
  remaining: z.number().min(0),
  retry_after_seconds: z.int().min(0).meta({
    description: "Whole seconds until the request would be allowed; 0 when allowed",
  }),
  retry_after_ms: z.number().min(0),
  reset_after_ms: z.number().min(0),
  limit: z.int().min(1),
  window_ms: z.int().min(1),
  burst: z.int().min(1).optional().meta({ description: "gcra only: the burst in effect" }),
  refill_rate: z.int().min(1).optional().meta({
    description: "token_bucket only: tokens refilled per window",
  }),
  degraded: z.literal(true).optional().meta({
    description: "Present (true) only when the failure mode answered, not the shared store",
  }),
});

/**
 * zod schema of the answer of a multi-limit check: the fields of the deciding limit plus each
 * limit's own answer.
 */
export const multiCheckAnswerSchema = checkAnswerSchema.extend({
  limits: z.array(checkAnswerSchema),
  denied_index: z.int().min(0).nullable().meta({
    description: "Index in `limits` of the denying limit with the longest retry, null if allowed",
  }),
  denied_key: z.string().nullable(),
});

const batchStatus = z.union([z.literal(200), z.literal(429)]);

/** zod schema of the answer of `POST /check/batch`: one result per check, in order. */
export const batchAnswerSchema = z.strictObject({
  results: z.array(
    z.union([
      checkAnswerSchema.extend({ status: batchStatus }),
      multiCheckAnswerSchema.extend({ status: batchStatus }),
    ]),
  ),
});

/** zod schema of every error answer: `{"error": {"code", "message", "details"?}}`. */
export const errorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.string().meta({ description: "Machine-readable, stable: branch on this" }),
    message: z.string().meta({ description: "For people; may change" }),
    details: z.unknown().optional().meta({
      description: "E.g. the list of validation issues, each `{path, message}`",
    }),
  }),
});

const storeView = z.strictObject({
  kind: z.enum(["memory", "redis"]),
  status: z.enum(["up", "down"]),
});

/** zod schema of the answer of `GET /health`. */
export const healthAnswerSchema = z.strictObject({
  status: z.literal("healthy"),
  node_id: z.string(),
  version: z.string(),
  store: storeView,
});

/** zod schema of the answer of `GET /ready` (200 or 503). */
export const readyAnswerSchema = z.strictObject({
  ready: z.boolean(),
  node_id: z.string(),
  store: storeView,
});

const isoTime = z.iso.datetime();

/** zod schema of the answer of `GET /api/nodes`. */
export const nodesAnswerSchema = z.strictObject({
  nodes: z.array(z.strictObject({
    id: z.string(),
    address: z.string(),
    state: z.enum(["Up", "Down"]),
    registered_at: isoTime,
    last_heartbeat_at: isoTime,
    last_heartbeat_age_ms: z.number().min(0),
    version: z.string(),
    self: z.boolean().meta({ description: "True for the node that answered" }),
  })),
});

/** zod schema of one rule in the answer of `GET /api/rules`. */
export const ruleViewSchema = z.strictObject({
  path: z.array(z.string()).meta({
    description: "Where the rule sits in its domain: `key_value` per level, or `key` for a default",
  }),
  name: z.string().nullable(),
  unlimited: z.boolean(),
  requests_per_unit: z.int().min(0).meta({ description: "0 when unlimited" }),
  unit: z.enum(Object.keys(RULE_UNITS) as [RuleUnit, ...RuleUnit[]]).nullable().meta({
    description: "Null when the rule is unlimited or written with a `window`",
  }),
  unit_multiplier: z.int().min(1).meta({
    description: "envoyproxy/ratelimit's unit_multiplier: the window is this many units",
  }),
  window_ms: z.int().min(0).meta({
    description: "The unit's or the window's length; 0 when unlimited",
  }),
  algorithm: algorithmSchema,
  burst: z.int().min(1).nullable(),
  refill_rate: z.int().min(1).nullable(),
  shadow_mode: z.boolean(),
  detailed_metric: z.boolean(),
  replaces: z.array(z.string()),
});

/** zod schema of the answer of `GET /api/rules`. */
export const rulesAnswerSchema = z.strictObject({
  path: z.string().nullable().meta({ description: "RATELIMITER_RULES_FILE; null when unset" }),
  files: z.array(z.string()).meta({ description: "The files read, in load order" }),
  hash: z.string().meta({ description: "SHA-256 (hex) of the files' names and contents" }),
  loaded_at: isoTime.nullable().meta({ description: "When the rules in force were loaded" }),
  last_reload: z.strictObject({
    result: z.enum(["ok", "error"]),
    at: isoTime,
    issues: z.array(z.string()).meta({
      description: "Why it was refused (the rules in force stayed), each naming file, document " +
        "and path",
    }),
  }).nullable().meta({ description: "The last reload (file change or SIGHUP); null before one" }),
  domains: z.array(z.strictObject({
    domain: z.string(),
    rules: z.array(ruleViewSchema),
  })),
});

/** zod schema of the answer of `GET /api/cluster`. */
export const clusterAnswerSchema = z.strictObject({
  generated_at: isoTime,
  nodes: z.array(z.strictObject({
    id: z.string(),
    address: z.string(),
    state: z.enum(["Up", "Down"]),
    version: z.string(),
    last_heartbeat: isoTime,
    store: storeView,
    circuit_state: z.enum(CIRCUIT_STATES).nullable().meta({
      description: "The node's store circuit breaker; null on the embedded store (no breaker)",
    }),
    allowed_per_second: z.number().min(0).meta({
      description: "Checks allowed per second over the last few seconds",
    }),
    blocked_per_second: z.number().min(0).meta({
      description: "Checks blocked per second over the last few seconds",
    }),
    p99_check_ms: z.number().min(0).nullable().meta({
      description: "p99 check latency over the last few seconds, in ms; null: no check timed",
    }),
  })),
  totals: z.strictObject({
    allowed_per_second: z.number().min(0).meta({ description: "Sum over the Up nodes" }),
    blocked_per_second: z.number().min(0).meta({ description: "Sum over the Up nodes" }),
  }),
});

/** zod schema of one override, as `/api/limits` shows it. */
export const overrideViewSchema = z.strictObject({
  key: z.string(),
  limit: z.int().min(1),
  window_ms: z.int().min(1),
  algorithm: algorithmSchema.nullable().meta({ description: "null: applies to every algorithm" }),
  burst: z.int().min(1).nullable(),
  refill_rate: z.int().min(1).nullable(),
  updated_at: isoTime,
});

/** zod schema of the answer of `GET /api/limits`. */
export const limitsAnswerSchema = z.strictObject({
  default_limit: z.int().min(1),
  default_window_ms: z.int().min(1),
  default_algorithm: algorithmSchema,
  overrides: z.array(overrideViewSchema),
});

/** zod schema of the answer of `PUT /api/limits/{key}`. */
export const overridePutAnswerSchema = overrideViewSchema.extend({
  updated: z.literal(true),
  created: z.boolean().meta({ description: "False when an override of this key was replaced" }),
});

/** zod schema of the answer of `DELETE /api/limits/{key}`. */
export const overrideDeleteAnswerSchema = z.strictObject({
  key: z.string(),
  deleted: z.literal(true),
});

const nextCursor = z.string().nullable().meta({
  description: "Pass as `cursor` for the next page; null on the last page",
});

/** zod schema of the answer of `GET /api/counters`. */
export const countersAnswerSchema = z.strictObject({
  counters: z.array(z.strictObject({
    key: z.string(),
    algorithm: algorithmSchema,
    count: z.number().min(0),
    limit: z.int().min(1),
    window_ms: z.int().min(1),
    remaining: z.number().min(0),
    blocked: z.boolean(),
    retry_after_seconds: z.int().min(0),
    reset_after_ms: z.number().min(0),
    override: z.boolean(),
  })),
  next_cursor: nextCursor,
});

/** zod schema of the answer of `GET /api/blocks`. */
export const blocksAnswerSchema = z.strictObject({
  blocked: z.array(z.strictObject({
    key: z.string(),
    algorithm: algorithmSchema,
    current_count: z.number().min(0),
    limit: z.int().min(1),
    window_ms: z.int().min(1),
    retry_after_seconds: z.int().min(0),
    override: z.boolean(),
  })),
  next_cursor: nextCursor,
});

/** zod schema of the answer of `POST /api/counters/{key}/reset`. */
export const resetAnswerSchema = z.strictObject({
  key: z.string(),
  reset: z.boolean().meta({ description: "False when the key had no counter" }),
});

/** A JSON Schema (or OpenAPI) object. */
export type JsonObject = Record<string, unknown>;

/** Options for {@linkcode buildOpenApiDocument}. */
export interface OpenApiOptions {
  /** The configured limits policy, stated in the request descriptions. */
  policy: LimitsPolicy;
  /** Whether reads of `/api/*` need the bearer token too (`RATELIMITER_ADMIN_READ_AUTH`). */
  readAuth: boolean;
}

/** Descriptions of the request fields, for the rules JSON Schema cannot state. */
const FIELD_DESCRIPTIONS: Record<string, string> = {
  key: `The rate-limit key: 1 to ${MAX_KEY_BYTES} bytes of UTF-8 (not characters), well-formed ` +
    "Unicode, no NUL.",
  limits: `1 to ${MAX_LIMITS_PER_CHECK} limits decided together, atomically: allowed only if ` +
    "every one allows, and only then counted. Their keys must share a leading hash tag (e.g. " +
    '`"{tenant42}:user"` and `"{tenant42}:ip"`); each (key, algorithm) at most once. Exactly one ' +
    "of `key` or `limits`; with `limits`, the other fields go inside each item.",
  limit: "Requests allowed per window. Absent: the key's override, else the default.",
  window_ms: "Window length in milliseconds. Absent: the key's override, else the default.",
  algorithm: "Absent: the key's override, else the default.",
  cost: "How many requests this one counts for (0 peeks). Absent: 1.",
  burst: 'Only with `"algorithm": "gcra"`: requests allowed at once. Absent: `limit`.',
  refill_rate: 'Only with `"algorithm": "token_bucket"`: tokens refilled per window. ' +
    "Absent: `limit`.",
};

/** A JSON Schema of a zod schema, for an OpenAPI document (no `$schema`). */
function toSchema(schema: z.ZodType, io: "input" | "output"): JsonObject {
  const json = z.toJSONSchema(schema, {
    io,
    target: "draft-2020-12",
    unrepresentable: "any",
  }) as JsonObject;
  delete json.$schema;
  return json;
}

/** Adds {@linkcode FIELD_DESCRIPTIONS} to every object's properties in `schema`, nested too. */
function describeFields(schema: unknown): void {
  if (Array.isArray(schema)) {
    for (const item of schema) describeFields(item);
    return;
  }
  if (typeof schema !== "object" || schema === null) return;
  const object = schema as JsonObject;
  const properties = object.properties as Record<string, JsonObject> | undefined;
  if (properties !== undefined) {
    for (const [name, property] of Object.entries(properties)) {
      const description = FIELD_DESCRIPTIONS[name];
      if (description !== undefined && property.description === undefined) {
        property.description = description;
      }
    }
  }
  for (const value of Object.values(object)) describeFields(value);
}

/** A request schema: converted from the route's zod schema, with the rules it cannot state. */
function requestSchema(schema: z.ZodType, description: string): JsonObject {
  const json = toSchema(schema, "input");
  describeFields(json);
  return { description, ...json };
}

function policyText(policy: LimitsPolicy): string {
  const rows = ALGORITHMS.map((a) =>
    `${a}: limit, burst and refill_rate ≤ ${policy[a].limit}, window_ms ≤ ${policy[a].windowMs}, ` +
    `cost ≤ ${policy[a].cost}`
  );
  return "The limits policy of this node bounds what a client asks for (not the overrides nor " +
    "the defaults); a value above it is a 400 `policy_violation` whose `details` name the field, " +
    `value, algorithm and maximum. ${rows.join("; ")}.`;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonObject) => ({ "application/json": { schema } });

const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });

const CHECK_HEADERS = {
  "X-RateLimit-Limit": headerRef("X-RateLimit-Limit"),
  "X-RateLimit-Remaining": headerRef("X-RateLimit-Remaining"),
  "X-RateLimit-Reset": headerRef("X-RateLimit-Reset"),
  "RateLimit-Policy": headerRef("RateLimit-Policy"),
  "RateLimit": headerRef("RateLimit"),
  "X-RateLimit-Degraded": headerRef("X-RateLimit-Degraded"),
};

/** The error answers of a route: status → the codes it can answer with that status. */
type ErrorCodes = Record<number, string[]>;

/** What every route can answer whatever it is (request limits, unexpected errors). */
const COMMON_ERRORS: ErrorCodes = {
  400: ["invalid_path", "invalid_query"],
  414: ["uri_too_long"],
  500: ["internal_error"],
};

const BODY_ERRORS: ErrorCodes = {
  400: ["invalid_json", "invalid_utf8", "invalid_request"],
  408: ["request_timeout"],
  413: ["payload_too_large"],
  415: ["unsupported_media_type"],
};

const STORE_ERRORS: ErrorCodes = { 503: ["store_unavailable"] };

/** A check may also find the embedded store full (in `closed` mode). */
const CHECK_STORE_ERRORS: ErrorCodes = { 503: ["store_unavailable", STORE_FULL_CODE] };

const AUTH_ERRORS: ErrorCodes = { 400: ["invalid_request"], 401: ["unauthorized"] };

function mergeErrors(...sets: ErrorCodes[]): ErrorCodes {
  const merged: Record<number, Set<string>> = {};
  for (const set of sets) {
    for (const [status, codes] of Object.entries(set)) {
      const bucket = merged[Number(status)] ??= new Set();
      for (const code of codes) bucket.add(code);
    }
  }
  return Object.fromEntries(
    Object.entries(merged).map(([status, codes]) => [status, [...codes].sort()]),
  );
}

function errorResponses(...sets: ErrorCodes[]): Record<string, JsonObject> {
  const responses: Record<string, JsonObject> = {};
  for (const [status, codes] of Object.entries(mergeErrors(...sets))) {
    const response: JsonObject = {
      description: `Error; \`error.code\` is one of: ${codes.map((c) => `\`${c}\``).join(", ")}`,
      content: json(ref("Error")),
    };
    if (status === "503") response.headers = { "Retry-After": headerRef("Retry-After") };
    if (status === "401") {
      response.headers = {
        "WWW-Authenticate": {
          description: 'The bearer challenge: `Bearer realm="ratelimiter"`, with an RFC 6750 ' +
            "`error` when the token is wrong",
          schema: { type: "string" },
        },
      };
    }
    responses[status] = response;
  }
  return responses;
}

const keyParameter = (description: string) => ({
  name: "key",
  in: "path",
  required: true,
  description: `${description} Percent-encoded; 1 to ${MAX_KEY_BYTES} bytes of UTF-8 once ` +
    "decoded, well-formed Unicode, no NUL (an empty key is a 400 `invalid_request`).",
  schema: toSchema(keySchema, "input"),
});

const prefixParameter = {
  name: "prefix",
  in: "query",
  required: false,
  description: "Only keys starting with this prefix (a valid key itself); empty means all.",
  schema: { type: "string" },
};

const pageParameters = [
  {
    name: "cursor",
    in: "query",
    required: false,
    description: "The `next_cursor` of the previous page; absent or empty for the first page. " +
      "A cursor this node did not hand out is a 400 `invalid_cursor`.",
    schema: { type: "string" },
  },
  {
    name: "limit",
    in: "query",
    required: false,
    description: `Page size. Absent: ${DEFAULT_PAGE_SIZE}.`,
    schema: { type: "integer", minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
  },
  prefixParameter,
];

/** The query parameters of `GET /check/{key}`, from the schema the route validates them with. */
function peekParameters(): JsonObject[] {
  const schema = toSchema(peekQuerySchema, "output");
  describeFields(schema);
  const properties = schema.properties as Record<string, JsonObject>;
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: "query",
      required: false,
      ...(description === undefined ? {} : { description }),
      schema: rest,
    };
  });
}

const RLS_UNIT_NAMES = ["SECOND", "MINUTE", "HOUR", "DAY", "MONTH", "YEAR", "WEEK"];
const RLS_CODE_NAMES = ["UNKNOWN", "OK", "OVER_LIMIT"];
const RLS_UINT64 = {
  anyOf: [{ type: "integer", minimum: 0 }, { type: "string", pattern: "^[0-9]+$" }],
};

/** `RateLimitRequest` in proto3 JSON (snake_case names shown; lowerCamelCase accepted too). */
const RLS_REQUEST_SCHEMA: JsonObject = {
  type: "object",
  required: ["domain", "descriptors"],
  properties: {
    domain: { type: "string", minLength: 1, description: "The rules file's domain." },
    descriptors: {
      type: "array",
      minItems: 1,
      maxItems: 64,
      items: {
        type: "object",
        properties: {
          entries: {
            type: "array",
            maxItems: 64,
            items: {
              type: "object",
              properties: { key: { type: "string" }, value: { type: "string" } },
            },
          },
          limit: {
            type: "object",
            description: "The caller's own limit instead of the rule's.",
            properties: {
              requests_per_unit: { type: "integer", minimum: 0, maximum: 4294967295 },
              unit: { enum: RLS_UNIT_NAMES },
            },
          },
          hits_addend: {
            ...RLS_UINT64,
            description: "Units this descriptor consumes (beats the request's); 0 only looks.",
          },
        },
      },
    },
    hits_addend: {
      type: "integer",
      minimum: 0,
      maximum: 4294967295,
      description: "Units every descriptor consumes; absent or 0: 1.",
    },
  },
};

/** `RateLimitResponse` in canonical proto3 JSON. */
const RLS_RESPONSE_SCHEMA: JsonObject = {
  type: "object",
  required: ["overallCode", "statuses"],
  properties: {
    overallCode: { enum: RLS_CODE_NAMES },
    statuses: {
      type: "array",
      description: "One per descriptor, in request order.",
      items: {
        type: "object",
        required: ["code", "limitRemaining"],
        properties: {
          code: { enum: RLS_CODE_NAMES },
          currentLimit: {
            type: "object",
            properties: {
              name: { type: "string" },
              requestsPerUnit: { type: "integer" },
              unit: { enum: ["UNKNOWN", ...RLS_UNIT_NAMES] },
            },
          },
          limitRemaining: { type: "integer", minimum: 0 },
          durationUntilReset: { type: "string", pattern: "^[0-9]+(\\.[0-9]+)?s$" },
        },
      },
    },
    responseHeadersToAdd: {
      type: "array",
      items: {
        type: "object",
        properties: { key: { type: "string" }, value: { type: "string" } },
      },
    },
  },
};

/**
 * Builds the OpenAPI 3.1 document of every route of the app. Call once, when the app is built:
 * it converts every schema (a few ms), which no request should pay for.
 */
export function buildOpenApiDocument(options: OpenApiOptions): JsonObject {
  const { policy, readAuth } = options;
  const bearer = [{ bearerAuth: [] }];
  const readSecurity = readAuth ? { security: bearer } : {};
  const writeSecurity = { security: bearer };
  const readAuthErrors = readAuth ? [AUTH_ERRORS] : [];

  const checkResponses = {
    "200": {
      description: "Allowed (and counted, unless `cost` is 0). A single-key check answers a " +
        "`CheckAnswer`, a `limits` check a `MultiCheckAnswer`.",
      headers: CHECK_HEADERS,
      content: json({ anyOf: [ref("CheckAnswer"), ref("MultiCheckAnswer")] }),
    },
    "429": {
      description: "Denied, and not counted: `retry_after_*` and `Retry-After` say when to retry.",
      headers: { ...CHECK_HEADERS, "Retry-After": headerRef("Retry-After") },
      content: json({ anyOf: [ref("CheckAnswer"), ref("MultiCheckAnswer")] }),
    },
  };

  const adminTag = ["management"];
  const paths: Record<string, JsonObject> = {
    "/check": {
      post: {
        operationId: "check",
        tags: ["checks"],
        summary: "Check (and count) a request against one limit, or several at once",
        requestBody: {
          required: true,
          description: `JSON, at most ${MAX_BODY_BYTES} bytes.`,
          content: json(ref("CheckRequest")),
        },
        responses: {
          ...checkResponses,
          ...errorResponses(COMMON_ERRORS, BODY_ERRORS, CHECK_STORE_ERRORS, {
            400: ["policy_violation"],
          }),
        },
      },
    },
    "/check/batch": {
      post: {
        operationId: "checkBatch",
        tags: ["checks"],
        summary: "Decide many independent checks in one request",
        requestBody: {
          required: true,
          description: `JSON, at most ${MAX_BATCH_BODY_BYTES} bytes.`,
          content: json(ref("BatchRequest")),
        },
        responses: {
          "200": {
            description: "One result per check, in order, each with its own `status` (200 or " +
              "429). The rate-limit headers are per check, so only `X-RateLimit-Degraded` is set.",
            headers: { "X-RateLimit-Degraded": headerRef("X-RateLimit-Degraded") },
            content: json(ref("BatchAnswer")),
          },
          ...errorResponses(COMMON_ERRORS, BODY_ERRORS, CHECK_STORE_ERRORS, {
            400: ["policy_violation"],
          }),
        },
      },
    },
    "/check/{key}": {
      get: {
        operationId: "peek",
        tags: ["checks"],
        summary: "Peek: the state of a key under a limit, counting nothing (cost 0)",
        description: "The query takes the fields of a single-key check but `cost`, with the " +
          "same rules (`burst` only with gcra, `refill_rate` only with token_bucket, the limits " +
          "policy); other parameters are ignored. " + policyText(policy),
        parameters: [
          keyParameter("The key: the rest of the path, so it may hold `/`."),
          ...peekParameters(),
        ],
        responses: {
          "200": { ...checkResponses["200"], content: json(ref("CheckAnswer")) },
          "429": { ...checkResponses["429"], content: json(ref("CheckAnswer")) },
          ...errorResponses(COMMON_ERRORS, CHECK_STORE_ERRORS, {
            400: ["invalid_request", "policy_violation"],
          }),
        },
      },
    },
    "/json": {
      post: {
        operationId: "shouldRateLimitJson",
        tags: ["envoy"],
        summary: "Envoy's rate limit protocol (ShouldRateLimit) over JSON",
        description: "The `RateLimitRequest` of `envoy.service.ratelimit.v3` in proto3 JSON " +
          "(names as in the .proto or lowerCamelCase), decided against the rules file exactly " +
          "as the gRPC server decides it; the `RateLimitResponse` in canonical proto3 JSON. " +
          "See the README's section for Envoy users.",
        requestBody: {
          required: true,
          description: `JSON, at most ${MAX_BODY_BYTES} bytes.`,
          content: json(RLS_REQUEST_SCHEMA),
        },
        responses: {
          "200": { description: "`overallCode` is OK", content: json(RLS_RESPONSE_SCHEMA) },
          "429": {
            description: "`overallCode` is OVER_LIMIT",
            content: json(RLS_RESPONSE_SCHEMA),
          },
          ...errorResponses(COMMON_ERRORS, BODY_ERRORS, CHECK_STORE_ERRORS),
        },
      },
    },
    "/health": {
      get: {
        operationId: "health",
        tags: ["operations"],
        summary: "Liveness: 200 while the node serves",
        responses: {
          "200": { description: "Serving", content: json(ref("Health")) },
          ...errorResponses(COMMON_ERRORS),
        },
      },
    },
    "/ready": {
      get: {
        operationId: "ready",
        tags: ["operations"],
        summary: "Readiness: 200 only while the store answers",
        responses: {
          "200": { description: "The store answers", content: json(ref("Ready")) },
          "503": {
            description: "The store does not answer (`ready: false`)",
            content: json(ref("Ready")),
          },
          ...errorResponses(COMMON_ERRORS),
        },
      },
    },
    "/metrics": {
      get: {
        operationId: "metrics",
        tags: ["operations"],
        summary: "Prometheus metrics of this node",
        responses: {
          "200": {
            description: "Prometheus text exposition format",
            content: { "text/plain": { schema: { type: "string" } } },
          },
          ...errorResponses(COMMON_ERRORS),
        },
      },
    },
    "/openapi.json": {
      get: {
        operationId: "openapi",
        tags: ["operations"],
        summary: "This document",
        responses: {
          "200": { description: "OpenAPI 3.1", content: json({ type: "object" }) },
          ...errorResponses(COMMON_ERRORS),
        },
      },
    },
    "/docs": {
      get: {
        operationId: "docs",
        tags: ["operations"],
        summary: "Interactive reference of this API (Swagger UI, served by the node)",
        responses: {
          "200": {
            description: "The page",
            content: { "text/html": { schema: { type: "string" } } },
          },
          ...errorResponses(COMMON_ERRORS),
        },
      },
    },
    "/docs/assets/{name}": {
      get: {
        operationId: "docsAsset",
        tags: ["operations"],
        summary: "A script or style sheet of the docs page; its name carries a hash of its content",
        parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }],
        responses: {
          "200": {
            description: "The file, cacheable for a year",
            content: {
              "text/javascript": { schema: { type: "string" } },
              "text/css": { schema: { type: "string" } },
            },
          },
          ...errorResponses(COMMON_ERRORS),
        },
      },
    },
    "/dashboard": {
      get: {
        operationId: "dashboard",
        tags: ["operations"],
        summary: "Live operator dashboard of the cluster (served by the node, polls /api/*)",
        responses: {
          "200": {
            description: "The page",
            content: { "text/html": { schema: { type: "string" } } },
          },
          ...errorResponses(COMMON_ERRORS),
        },
      },
    },
    "/dashboard/assets/{name}": {
      get: {
        operationId: "dashboardAsset",
        tags: ["operations"],
        summary:
          "The script or style sheet of the dashboard; its name carries a hash of its content",
        parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }],
        responses: {
          "200": {
            description: "The file, cacheable for a year",
            content: {
              "text/javascript": { schema: { type: "string" } },
              "text/css": { schema: { type: "string" } },
            },
          },
          ...errorResponses(COMMON_ERRORS),
        },
      },
    },
    "/api/nodes": {
      get: {
        operationId: "listNodes",
        tags: adminTag,
        summary: "The nodes of the cluster",
        ...readSecurity,
        responses: {
          "200": { description: "Every registered node", content: json(ref("NodesAnswer")) },
          ...errorResponses(COMMON_ERRORS, STORE_ERRORS, ...readAuthErrors),
        },
      },
    },
    "/api/cluster": {
      get: {
        operationId: "clusterSummary",
        tags: adminTag,
        summary: "The nodes of the cluster with their recent rates, latency and store status",
        description: "Every registered node, each with its checks allowed and blocked per second " +
          "and its p99 check latency over the last few seconds (published by each node to the " +
          "shared store every second), its store status and circuit state; totals over the Up " +
          "nodes. A Down node shows its last figures.",
        ...readSecurity,
        responses: {
          "200": { description: "The cluster summary", content: json(ref("ClusterAnswer")) },
          ...errorResponses(COMMON_ERRORS, STORE_ERRORS, ...readAuthErrors),
        },
      },
    },
    "/api/rules": {
      get: {
        operationId: "getRules",
        tags: adminTag,
        summary: "The rules file in force on this node",
        description: "The rules loaded from `RATELIMITER_RULES_FILE` (envoyproxy/ratelimit's " +
          "format): the files, their hash, when they were loaded, every domain with its rules, " +
          "and the outcome of the last reload. An invalid reload keeps the rules in force and " +
          "shows its problems in `last_reload.issues`.",
        ...readSecurity,
        responses: {
          "200": { description: "The rules in force", content: json(ref("RulesAnswer")) },
          ...errorResponses(COMMON_ERRORS, ...readAuthErrors),
        },
      },
    },
    "/api/limits": {
      get: {
        operationId: "listLimits",
        tags: adminTag,
        summary: "The defaults and the per-key limits (overrides)",
        ...readSecurity,
        parameters: [prefixParameter],
        responses: {
          "200": { description: "Defaults and overrides", content: json(ref("LimitsAnswer")) },
          ...errorResponses(
            COMMON_ERRORS,
            STORE_ERRORS,
            { 400: ["invalid_request"] },
            ...readAuthErrors,
          ),
        },
      },
    },
    "/api/limits/{key}": {
      get: {
        operationId: "getLimit",
        tags: adminTag,
        summary: "The override of one key",
        ...readSecurity,
        parameters: [keyParameter("The key.")],
        responses: {
          "200": { description: "The override", content: json(ref("Override")) },
          ...errorResponses(
            COMMON_ERRORS,
            STORE_ERRORS,
            { 400: ["invalid_request"], 404: ["not_found"] },
            ...readAuthErrors,
          ),
        },
      },
      put: {
        operationId: "setLimit",
        tags: adminTag,
        summary: "Set the override of one key, on every node",
        description: "No query parameters are accepted.",
        ...writeSecurity,
        parameters: [keyParameter("The key.")],
        requestBody: { required: true, content: json(ref("OverrideRequest")) },
        responses: {
          "200": { description: "Set", content: json(ref("OverridePutAnswer")) },
          ...errorResponses(
            COMMON_ERRORS,
            BODY_ERRORS,
            STORE_ERRORS,
            AUTH_ERRORS,
            { 409: ["too_many_overrides"] },
          ),
        },
      },
      delete: {
        operationId: "deleteLimit",
        tags: adminTag,
        summary: "Remove the override of one key, on every node",
        description: "No query parameters are accepted.",
        ...writeSecurity,
        parameters: [keyParameter("The key.")],
        responses: {
          "200": { description: "Removed", content: json(ref("OverrideDeleteAnswer")) },
          ...errorResponses(COMMON_ERRORS, STORE_ERRORS, AUTH_ERRORS, { 404: ["not_found"] }),
        },
      },
    },
    "/api/counters": {
      get: {
        operationId: "listCounters",
        tags: adminTag,
        summary: "The live counters, a page at a time, under each key's effective limit",
        ...readSecurity,
        parameters: pageParameters,
        responses: {
          "200": { description: "One page", content: json(ref("CountersAnswer")) },
          ...errorResponses(
            COMMON_ERRORS,
            STORE_ERRORS,
            { 400: ["invalid_request", "invalid_cursor"] },
            ...readAuthErrors,
          ),
        },
      },
    },
    "/api/blocks": {
      get: {
        operationId: "listBlocks",
        tags: adminTag,
        summary: "The keys currently blocked, a page at a time",
        ...readSecurity,
        parameters: pageParameters,
        responses: {
          "200": { description: "One page", content: json(ref("BlocksAnswer")) },
          ...errorResponses(
            COMMON_ERRORS,
            STORE_ERRORS,
            { 400: ["invalid_request", "invalid_cursor"] },
            ...readAuthErrors,
          ),
        },
      },
    },
    "/api/counters/{key}/reset": {
      post: {
        operationId: "resetCounter",
        tags: adminTag,
        summary: "Reset every counter of one key (all algorithms), on every node",
        description: "No body and no query parameters.",
        ...writeSecurity,
        parameters: [keyParameter("The key.")],
        responses: {
          "200": { description: "Reset", content: json(ref("ResetAnswer")) },
          ...errorResponses(COMMON_ERRORS, STORE_ERRORS, AUTH_ERRORS),
        },
      },
    },
  };

  const nullIsAbsent = "An optional field set to `null` is the same as leaving it out.";
  return {
    openapi: "3.1.0",
    info: {
      title: "ratelimiter-service",
      version: VERSION,
      description: "A distributed rate limiter: one HTTP API on every node, one shared store. " +
        'Every error answers `{"error": {"code", "message", "details"?}}`; a method a ' +
        "path does not take answers 405 `method_not_allowed` with `Allow`, an unknown path 404 " +
        "`not_found`.",
    },
    tags: [
      { name: "checks", description: "Rate-limit decisions" },
      { name: "envoy", description: "Envoy's rate limit service protocol over JSON" },
      { name: "management", description: "The management API (`/api`)" },
      { name: "operations", description: "Health, readiness, metrics and this document" },
    ],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description: "`Authorization: Bearer <RATELIMITER_ADMIN_TOKEN>`: needed by the " +
            "management calls that change state when a token is configured, and by its reads " +
            "too with RATELIMITER_ADMIN_READ_AUTH. Without a token the API is open.",
        },
      },
      headers: {
        "X-RateLimit-Limit": {
          description: "The limit of the deciding limit",
          schema: { type: "integer" },
        },
        "X-RateLimit-Remaining": {
          description: "Requests left in the window",
          schema: { type: "integer" },
        },
        "X-RateLimit-Reset": {
          description: "Seconds until the window resets (allowed) or until retry (denied)",
          schema: { type: "integer" },
        },
        "RateLimit-Policy": {
          description: 'IETF draft-10: `"default";q=<limit>;w=<window seconds>`',
          schema: { type: "string" },
        },
        "RateLimit": {
          description: 'IETF draft-10: `"default";r=<remaining>;t=<seconds>`',
          schema: { type: "string" },
        },
        "Retry-After": {
          description: "Whole seconds to wait before retrying",
          schema: { type: "integer" },
        },
        "X-RateLimit-Degraded": {
          description: "Present when the store was unavailable and the failure mode answered: " +
            "`open` (allowed without counting) or `local` (this node's own counters)",
          schema: { type: "string", enum: ["open", "local"] },
        },
      },
      schemas: {
        CheckRequest: requestSchema(
          checkBodySchema,
          "Exactly one of `key` (one limit, with its fields beside it) or `limits` (several). " +
            "`burst` only with gcra, `refill_rate` only with token_bucket. " + nullIsAbsent +
            ` Hard bounds: limit, cost, burst, refill_rate ≤ ${MAX_LIMIT}, window_ms ≤ ` +
            `${MAX_WINDOW_MS}. ` + policyText(policy),
        ),
        BatchRequest: requestSchema(
          batchBodySchema,
          `1 to ${MAX_BATCH_CHECKS} checks, each a \`CheckRequest\` with its rules, decided ` +
            "independently.",
        ),
        OverrideRequest: requestSchema(
          overrideBodySchema,
          "A per-key limit, applied by every node. Without `algorithm` it applies to every " +
            "algorithm; absent `window_ms` is the default window. `burst` only with gcra, " +
            "`refill_rate` only with token_bucket. " + nullIsAbsent,
        ),
        CheckAnswer: toSchema(checkAnswerSchema, "output"),
        MultiCheckAnswer: {
          description: "The fields of the deciding limit (the denying one with the longest " +
            "retry, or the first when allowed), plus each limit's own answer.",
          ...toSchema(multiCheckAnswerSchema, "output"),
        },
        BatchAnswer: toSchema(batchAnswerSchema, "output"),
        Error: toSchema(errorBodySchema, "output"),
        Health: toSchema(healthAnswerSchema, "output"),
        Ready: toSchema(readyAnswerSchema, "output"),
        NodesAnswer: toSchema(nodesAnswerSchema, "output"),
        ClusterAnswer: toSchema(clusterAnswerSchema, "output"),
        RulesAnswer: toSchema(rulesAnswerSchema, "output"),
        LimitsAnswer: toSchema(limitsAnswerSchema, "output"),
        Override: toSchema(overrideViewSchema, "output"),
        OverridePutAnswer: toSchema(overridePutAnswerSchema, "output"),
        OverrideDeleteAnswer: toSchema(overrideDeleteAnswerSchema, "output"),
        CountersAnswer: toSchema(countersAnswerSchema, "output"),
        BlocksAnswer: toSchema(blocksAnswerSchema, "output"),
        ResetAnswer: toSchema(resetAnswerSchema, "output"),
      },
    },
  };
}
