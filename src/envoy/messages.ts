/**
 * The messages of Envoy's rate limit service protocol (`envoy.service.ratelimit.v3`, with the
 * descriptor of `envoy.extensions.common.ratelimit.v3`) and of the standard health service
 * (`grpc.health.v1`), as plain objects, with their binary encoding. Field names, numbers and types
 * follow the published definitions, restated in `src/envoy/rls.proto`; the codec is hand-written
 * on `wire.ts`.
 *
 * Decoding keeps only what the service reads and skips every other field, as any proto3 reader
 * does. Encoding writes the fields the service answers with.
 *
 * @module
 */
import {
  lenFieldSize,
  uintFieldSize,
  type Utf8,
  utf8,
  WIRE,
  WireError,
  WireReader,
  WireSink,
  WireWriter,
} from "./wire.ts";
import type { DescriptorEntry } from "../rules/types.ts";

/** `RateLimitResponse.Code`. */
export const RLS_CODE = { UNKNOWN: 0, OK: 1, OVER_LIMIT: 2 } as const;
/** A value of {@linkcode RLS_CODE}. */
export type RlsCode = typeof RLS_CODE[keyof typeof RLS_CODE];

/**
 * `RateLimitResponse.RateLimit.Unit` and `envoy.type.v3.RateLimitUnit` (the two enums share their
 * numbers): UNKNOWN 0, SECOND 1, MINUTE 2, HOUR 3, DAY 4, MONTH 5, YEAR 6, WEEK 7.
 */
export const RLS_UNITS = ["UNKNOWN", "SECOND", "MINUTE", "HOUR", "DAY", "MONTH", "YEAR", "WEEK"];

/** `RateLimitDescriptor.RateLimitOverride`: the limit the caller asks for instead of the rule's. */
export interface RlsLimitOverride {
  /** `requests_per_unit` (field 1). */
  requestsPerUnit: number;
  /** A number of {@linkcode RLS_UNITS}. */
  unit: number;
}

/** `envoy.extensions.common.ratelimit.v3.RateLimitDescriptor`. */
export interface RlsDescriptor {
  /** `entries` (field 1), in request order. */
  entries: DescriptorEntry[];
  /** `limit` (field 2), when set. */
  limit: RlsLimitOverride | undefined;
  /** `hits_addend` (a `UInt64Value`): `undefined` when not set, which differs from 0. */
  hitsAddend: number | undefined;
}

/** `RateLimitRequest`. */
export interface RlsRequest {
  /** `domain` (field 1). */
  domain: string;
  /** `descriptors` (field 2). */
  descriptors: RlsDescriptor[];
  /** `hits_addend`; 0 when not set (then 1 applies). */
  hitsAddend: number;
}

/** `RateLimitResponse.RateLimit`. */
export interface RlsRateLimit {
  /** `name` (field 3): the rule's name, `""` when it has none. */
  name: string;
  /** `requests_per_unit` (field 1). */
  requestsPerUnit: number;
  /** A number of {@linkcode RLS_UNITS}. */
  unit: number;
}

/** `google.protobuf.Duration`. */
export interface RlsDuration {
  /** Whole seconds (field 1). */
  seconds: number;
  /** Nanoseconds beyond them, 0–999,999,999 (field 2). */
  nanos: number;
}

/** `RateLimitResponse.DescriptorStatus`. */
export interface RlsDescriptorStatus {
  /** `code` (field 1). */
  code: RlsCode;
  /** `current_limit` (field 2); unset for a descriptor with no limit. */
  currentLimit: RlsRateLimit | undefined;
  /** `limit_remaining` (field 3). */
  limitRemaining: number;
  /** `duration_until_reset` (field 4); unset for a descriptor with no limit. */
  durationUntilReset: RlsDuration | undefined;
}

/** `envoy.config.core.v3.HeaderValue`. */
export interface RlsHeader {
  /** Header name (field 1). */
  key: string;
  /** Header value (field 2). */
  value: string;
}

/** `RateLimitResponse`. */
export interface RlsResponse {
  /** `overall_code` (field 1). */
  overallCode: RlsCode;
  /** `statuses` (field 2): one per descriptor, in request order. */
  statuses: RlsDescriptorStatus[];
  /** `response_headers_to_add` (field 3). */
  responseHeadersToAdd: RlsHeader[];
  /** `request_headers_to_add` (field 4). */
  requestHeadersToAdd: RlsHeader[];
}

/** Most descriptors one request may carry; more is INVALID_ARGUMENT. */
export const MAX_DESCRIPTORS = 64;
/** Most entries one descriptor may carry; more is INVALID_ARGUMENT. */
export const MAX_ENTRIES = 64;

/** Largest value of a uint32 field. */
export const UINT32_MAX = 4_294_967_295;

function decodeEntry(reader: WireReader): DescriptorEntry {
  const entry = { key: "", value: "" };
  for (let tag = reader.tag(); tag !== undefined; tag = reader.tag()) {
    if (tag.field === 1) {
      reader.expect(tag.type, WIRE.LEN, "entries.key");
      entry.key = reader.string();
    } else if (tag.field === 2) {
      reader.expect(tag.type, WIRE.LEN, "entries.value");
      entry.value = reader.string();
    } else reader.skip(tag.type);
  }
  return entry;
}

function decodeOverride(reader: WireReader): RlsLimitOverride {
  const limit = { requestsPerUnit: 0, unit: 0 };
  for (let tag = reader.tag(); tag !== undefined; tag = reader.tag()) {
    if (tag.field === 1) {
      reader.expect(tag.type, WIRE.VARINT, "limit.requests_per_unit");
      limit.requestsPerUnit = reader.varint() % 2 ** 32;
    } else if (tag.field === 2) {
      reader.expect(tag.type, WIRE.VARINT, "limit.unit");
      limit.unit = reader.varint();
    } else reader.skip(tag.type);
  }
  return limit;
}

/** `google.protobuf.UInt64Value`: its `value` (field 1). */
function decodeUInt64Value(reader: WireReader): number {
  let value = 0;
  for (let tag = reader.tag(); tag !== undefined; tag = reader.tag()) {
    if (tag.field === 1) {
      reader.expect(tag.type, WIRE.VARINT, "hits_addend.value");
      value = reader.varint();
    } else reader.skip(tag.type);
  }
  return value;
}

function decodeDescriptor(reader: WireReader): RlsDescriptor {
  const descriptor: RlsDescriptor = { entries: [], limit: undefined, hitsAddend: undefined };
  for (let tag = reader.tag(); tag !== undefined; tag = reader.tag()) {
    if (tag.field === 1) {
      reader.expect(tag.type, WIRE.LEN, "entries");
      if (descriptor.entries.length === MAX_ENTRIES) {
        throw new WireError(`a descriptor has more than ${MAX_ENTRIES} entries`);
      }
      descriptor.entries.push(decodeEntry(reader.message()));
    } else if (tag.field === 2) {
      reader.expect(tag.type, WIRE.LEN, "limit");
      descriptor.limit = decodeOverride(reader.message());
    } else if (tag.field === 3) {
      reader.expect(tag.type, WIRE.LEN, "hits_addend");
      descriptor.hitsAddend = decodeUInt64Value(reader.message());
    } else reader.skip(tag.type);
  }
  return descriptor;
}

/**
 * Decodes a `RateLimitRequest`. Throws a {@linkcode WireError} on malformed bytes or more than
 * {@linkcode MAX_DESCRIPTORS} descriptors (or {@linkcode MAX_ENTRIES} entries in one).
 */
export function decodeRlsRequest(bytes: Uint8Array): RlsRequest {
  const reader = new WireReader(bytes);
  const request: RlsRequest = { domain: "", descriptors: [], hitsAddend: 0 };
  for (let tag = reader.tag(); tag !== undefined; tag = reader.tag()) {
    if (tag.field === 1) {
      reader.expect(tag.type, WIRE.LEN, "domain");
      request.domain = reader.string();
    } else if (tag.field === 2) {
      reader.expect(tag.type, WIRE.LEN, "descriptors");
      if (request.descriptors.length === MAX_DESCRIPTORS) {
        throw new WireError(`more than ${MAX_DESCRIPTORS} descriptors`);
      }
      request.descriptors.push(decodeDescriptor(reader.message()));
    } else if (tag.field === 3) {
      reader.expect(tag.type, WIRE.VARINT, "hits_addend");
      request.hitsAddend = reader.varint() % 2 ** 32;
    } else reader.skip(tag.type);
  }
  return request;
}

/** Bytes of a string field, 0 when empty (not written). */
function stringFieldSize(value: Utf8): number {
  return value.size === 0 ? 0 : lenFieldSize(value.size);
}

interface MeasuredStatus {
  status: RlsDescriptorStatus;
  name: Utf8 | undefined;
  limitSize: number;
  resetSize: number;
  size: number;
}

interface MeasuredHeader {
  key: Utf8;
  value: Utf8;
  size: number;
}

function measureStatus(status: RlsDescriptorStatus): MeasuredStatus {
  let size = uintFieldSize(status.code) + uintFieldSize(status.limitRemaining);
  let name: Utf8 | undefined;
  let limitSize = 0;
  if (status.currentLimit !== undefined) {
    name = utf8(status.currentLimit.name);
    limitSize = uintFieldSize(status.currentLimit.requestsPerUnit) +
      uintFieldSize(status.currentLimit.unit) + stringFieldSize(name);
    size += lenFieldSize(limitSize);
  }
  let resetSize = 0;
  if (status.durationUntilReset !== undefined) {
    resetSize = uintFieldSize(status.durationUntilReset.seconds) +
      uintFieldSize(status.durationUntilReset.nanos);
    size += lenFieldSize(resetSize);
  }
  return { status, name, limitSize, resetSize, size };
}

function measureHeader(header: RlsHeader): MeasuredHeader {
  const key = utf8(header.key);
  const value = utf8(header.value);
  return { key, value, size: stringFieldSize(key) + stringFieldSize(value) };
}

/**
 * Encodes a `RateLimitResponse`, after `offset` free bytes (5 leaves room for the gRPC frame
 * header, so the answer is framed without a copy).
 */
export function encodeRlsResponse(response: RlsResponse, offset = 0): Uint8Array {
  const statuses = response.statuses.map(measureStatus);
  const responseHeaders = response.responseHeadersToAdd.map(measureHeader);
  const requestHeaders = response.requestHeadersToAdd.map(measureHeader);
  let size = uintFieldSize(response.overallCode);
  for (const s of statuses) size += lenFieldSize(s.size);
  for (const h of responseHeaders) size += lenFieldSize(h.size);
  for (const h of requestHeaders) size += lenFieldSize(h.size);
  const sink = new WireSink(size, offset);
  sink.uint(1, response.overallCode);
  for (const { status, name, limitSize, resetSize, size } of statuses) {
    sink.len(2, size);
    sink.uint(1, status.code);
    if (status.currentLimit !== undefined) {
      sink.len(2, limitSize);
      sink.uint(1, status.currentLimit.requestsPerUnit);
      sink.uint(2, status.currentLimit.unit);
      sink.string(3, name!);
    }
    sink.uint(3, status.limitRemaining);
    if (status.durationUntilReset !== undefined) {
      sink.len(4, resetSize);
      sink.uint(1, status.durationUntilReset.seconds);
      sink.uint(2, status.durationUntilReset.nanos);
    }
  }
  const headers = (field: number, list: MeasuredHeader[]) => {
    for (const { key, value, size } of list) {
      sink.len(field, size);
      sink.string(1, key);
      sink.string(2, value);
    }
  };
  headers(3, responseHeaders);
  headers(4, requestHeaders);
  return sink.bytes;
}

/** `grpc.health.v1.HealthCheckResponse.ServingStatus`. */
export const HEALTH_STATUS = {
  UNKNOWN: 0,
  SERVING: 1,
  NOT_SERVING: 2,
  SERVICE_UNKNOWN: 3,
} as const;

/** Decodes a `grpc.health.v1.HealthCheckRequest`: its `service` (field 1). */
export function decodeHealthCheckRequest(bytes: Uint8Array): { service: string } {
  const reader = new WireReader(bytes);
  let service = "";
  for (let tag = reader.tag(); tag !== undefined; tag = reader.tag()) {
    if (tag.field === 1) {
      reader.expect(tag.type, WIRE.LEN, "service");
      service = reader.string();
    } else reader.skip(tag.type);
  }
  return { service };
}

/** Encodes a `grpc.health.v1.HealthCheckResponse` with `status` (field 1). */
export function encodeHealthCheckResponse(status: number): Uint8Array {
  return new WireWriter().uint(1, status).finish();
}
