/**
 * The protocol's messages in proto3 JSON, for `POST /json` (as envoyproxy/ratelimit's `/json`
 * endpoint): a `RateLimitRequest` read from JSON (field names as in the `.proto` or in
 * lowerCamelCase; a `uint64` as a number or a decimal string; a unit as its name or number; unknown
 * fields ignored, as proto3 JSON parsers may), and a `RateLimitResponse` written in canonical proto3
 * JSON (lowerCamelCase names, enums by name, a duration as `"<seconds>s"`), with `limitRemaining`
 * always present.
 *
 * @module
 */
import type { ValidationIssue } from "../http/validate.ts";
import {
  MAX_DESCRIPTORS,
  MAX_ENTRIES,
  RLS_UNITS,
  type RlsDescriptor,
  type RlsDuration,
  type RlsRequest,
  type RlsResponse,
  UINT32_MAX,
} from "./messages.ts";

type Json = Record<string, unknown>;

const CODE_NAMES = ["UNKNOWN", "OK", "OVER_LIMIT"] as const;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `object[snake] ?? object[camel]`. */
function field(object: Json, snake: string): unknown {
  if (object[snake] !== undefined && object[snake] !== null) return object[snake];
  const camel = snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return object[camel] ?? undefined;
}

/** Reads a RateLimitRequest; pushes what is wrong to `issues` (then the result is unusable). */
export function rlsRequestFromJson(body: unknown, issues: ValidationIssue[]): RlsRequest {
  const request: RlsRequest = { domain: "", descriptors: [], hitsAddend: 0 };
  if (!isObject(body)) {
    issues.push({ path: "", message: "expected a JSON object (a RateLimitRequest)" });
    return request;
  }
  const text = (value: unknown, path: string): string => {
    if (value === undefined) return "";
    if (typeof value !== "string" || !value.isWellFormed()) {
      issues.push({ path, message: "expected a string (well-formed Unicode)" });
      return "";
    }
    return value;
  };
  const uint = (value: unknown, path: string, max: number): number => {
    if (value === undefined) return 0;
    const n = typeof value === "string" && /^\d{1,20}$/.test(value) ? Number(value) : value;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > max) {
      issues.push({ path, message: `expected an integer from 0 to ${max}` });
      return 0;
    }
    return n;
  };
  request.domain = text(field(body, "domain"), "domain");
  request.hitsAddend = uint(field(body, "hits_addend"), "hits_addend", UINT32_MAX);
  const descriptors = field(body, "descriptors") ?? [];
  if (!Array.isArray(descriptors) || descriptors.length > MAX_DESCRIPTORS) {
    issues.push({
      path: "descriptors",
      message: `expected an array of at most ${MAX_DESCRIPTORS} descriptors`,
    });
    return request;
  }
  descriptors.forEach((raw, i) => {
    const at = `descriptors.${i}`;
    const descriptor: RlsDescriptor = { entries: [], limit: undefined, hitsAddend: undefined };
    request.descriptors.push(descriptor);
    if (!isObject(raw)) {
      issues.push({ path: at, message: "expected an object (a RateLimitDescriptor)" });
      return;
    }
    const entries = field(raw, "entries") ?? [];
    if (!Array.isArray(entries) || entries.length > MAX_ENTRIES) {
      issues.push({
        path: `${at}.entries`,
        message: `expected an array of at most ${MAX_ENTRIES} entries`,
      });
    } else {
      entries.forEach((entry, j) => {
        if (!isObject(entry)) {
          issues.push({ path: `${at}.entries.${j}`, message: "expected an object {key, value}" });
          return;
        }
        descriptor.entries.push({
          key: text(entry.key, `${at}.entries.${j}.key`),
          value: text(entry.value, `${at}.entries.${j}.value`),
        });
      });
    }
    const limit = field(raw, "limit");
    if (limit !== undefined) {
      if (!isObject(limit)) {
        issues.push({ path: `${at}.limit`, message: "expected an object (a RateLimitOverride)" });
      } else {
        const unitRaw = field(limit, "unit");
        let unit = typeof unitRaw === "string" ? RLS_UNITS.indexOf(unitRaw.toUpperCase()) : -1;
        if (typeof unitRaw === "number" && Number.isInteger(unitRaw)) unit = unitRaw;
        if (unit < 0) {
          issues.push({
            path: `${at}.limit.unit`,
            message: `expected one of ${RLS_UNITS.slice(1).join(", ")}`,
          });
        }
        descriptor.limit = {
          requestsPerUnit: uint(
            field(limit, "requests_per_unit"),
            `${at}.limit.requests_per_unit`,
            UINT32_MAX,
          ),
          unit: Math.max(0, unit),
        };
      }
    }
    const hits = field(raw, "hits_addend");
    if (hits !== undefined) {
      // A UInt64Value is written as its value; `{"value": n}` is accepted too.
      const value = isObject(hits) ? hits.value ?? 0 : hits;
      descriptor.hitsAddend = uint(value, `${at}.hits_addend`, Number.MAX_SAFE_INTEGER);
    }
  });
  return request;
}

function durationJson(duration: RlsDuration): string {
  if (duration.nanos === 0) return `${duration.seconds}s`;
  return `${duration.seconds}.${String(duration.nanos).padStart(9, "0").replace(/0+$/, "")}s`;
}

/** A RateLimitResponse in canonical proto3 JSON (see the module documentation). */
export function rlsResponseToJson(response: RlsResponse): Json {
  const json: Json = {
    overallCode: CODE_NAMES[response.overallCode],
    statuses: response.statuses.map((status) => {
      const s: Json = { code: CODE_NAMES[status.code] };
      if (status.currentLimit !== undefined) {
        const limit: Json = {
          requestsPerUnit: status.currentLimit.requestsPerUnit,
          unit: RLS_UNITS[status.currentLimit.unit] ?? "UNKNOWN",
        };
        if (status.currentLimit.name !== "") limit.name = status.currentLimit.name;
        s.currentLimit = limit;
      }
      s.limitRemaining = status.limitRemaining;
      if (status.durationUntilReset !== undefined) {
        s.durationUntilReset = durationJson(status.durationUntilReset);
      }
      return s;
    }),
  };
  if (response.responseHeadersToAdd.length > 0) {
    json.responseHeadersToAdd = response.responseHeadersToAdd;
  }
  if (response.requestHeadersToAdd.length > 0) {
    json.requestHeadersToAdd = response.requestHeadersToAdd;
  }
  return json;
}
