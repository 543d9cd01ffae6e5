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
import { WIRE, WireError, WireReader, WireWriter } from "./wire.ts";
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
  requestsPerUnit: number;
  /** A number of {@linkcode RLS_UNITS}. */
  unit: number;
}

/** `envoy.extensions.common.ratelimit.v3.RateLimitDescriptor`. */
export interface RlsDescriptor {
  entries: DescriptorEntry[];
  limit: RlsLimitOverride | undefined;
  /** `hits_addend` (a `UInt64Value`): `undefined` when not set, which differs from 0. */
  hitsAddend: number | undefined;
}

/** `RateLimitRequest`. */
export interface RlsRequest {
  domain: string;
  descriptors: RlsDescriptor[];
  /** `hits_addend`; 0 when not set (then 1 applies). */
  hitsAddend: number;
}

/** `RateLimitResponse.RateLimit`. */
export interface RlsRateLimit {
  name: string;
  requestsPerUnit: number;
  /** A number of {@linkcode RLS_UNITS}. */
  unit: number;
}

/** `google.protobuf.Duration`. */
export interface RlsDuration {
  seconds: number;
  nanos: number;
}

/** `RateLimitResponse.DescriptorStatus`. */
export interface RlsDescriptorStatus {
  code: RlsCode;
  currentLimit: RlsRateLimit | undefined;
  limitRemaining: number;
  durationUntilReset: RlsDuration | undefined;
}

/** `envoy.config.core.v3.HeaderValue`. */
export interface RlsHeader {
  key: string;
  value: string;
}

/** `RateLimitResponse`. */
export interface RlsResponse {
  overallCode: RlsCode;
  statuses: RlsDescriptorStatus[];
  responseHeadersToAdd: RlsHeader[];
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

function encodeRateLimit(limit: RlsRateLimit): WireWriter {
  return new WireWriter()
    .uint(1, limit.requestsPerUnit)
    .uint(2, limit.unit)
    .string(3, limit.name);
}

function encodeStatus(status: RlsDescriptorStatus): WireWriter {
  const writer = new WireWriter().uint(1, status.code);
  if (status.currentLimit !== undefined) writer.message(2, encodeRateLimit(status.currentLimit));
  writer.uint(3, status.limitRemaining);
  const reset = status.durationUntilReset;
  if (reset !== undefined) {
    writer.message(4, new WireWriter().uint(1, reset.seconds).uint(2, reset.nanos));
  }
  return writer;
}

function encodeHeader(header: RlsHeader): WireWriter {
  return new WireWriter().string(1, header.key).string(2, header.value);
}

/** Encodes a `RateLimitResponse`. */
export function encodeRlsResponse(response: RlsResponse): Uint8Array {
  const writer = new WireWriter().uint(1, response.overallCode);
  for (const status of response.statuses) writer.message(2, encodeStatus(status));
  for (const header of response.responseHeadersToAdd) writer.message(3, encodeHeader(header));
  for (const header of response.requestHeadersToAdd) writer.message(4, encodeHeader(header));
  return writer.finish();
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
