/**
 * A small checker of JSON shapes, written for contract tests: it says which fields a client reads
 * and what JSON type each must have, and lists every place an answer differs. Fields the shape does
 * not name are ignored, as pydantic models (the original service's clients) ignore them.
 *
 * @module
 */
import { AssertionError } from "node:assert";

/** The JSON type a field must have. */
export type Shape =
  | { kind: "string" }
  | { kind: "integer" }
  | { kind: "number" }
  | { kind: "boolean" }
  | { kind: "datetime" }
  | { kind: "optional"; inner: Shape }
  | { kind: "array"; item: Shape }
  | { kind: "object"; fields: Record<string, Shape> };

/** Constructors of {@linkcode Shape}s. */
export const shape = {
  string: { kind: "string" } as Shape,
  /** A JSON number with no fractional part (pydantic `int`). */
  integer: { kind: "integer" } as Shape,
  number: { kind: "number" } as Shape,
  boolean: { kind: "boolean" } as Shape,
  /** A string that `Date.parse` reads (ISO 8601), or a number of seconds (pydantic `datetime`). */
  datetime: { kind: "datetime" } as Shape,
  /** Absent, `null`, or `inner` (pydantic `X | None = None`). */
  optional: (inner: Shape): Shape => ({ kind: "optional", inner }),
  array: (item: Shape): Shape => ({ kind: "array", item }),
  object: (fields: Record<string, Shape>): Shape => ({ kind: "object", fields }),
};

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** Every place `value` differs from `expected`, as `path: problem` lines (empty when it fits). */
export function shapeProblems(value: unknown, expected: Shape, path = "$"): string[] {
  const wrong = (what: string) => [`${path}: expected ${what}, received ${JSON.stringify(value)}`];
  switch (expected.kind) {
    case "string":
      return typeof value === "string" ? [] : wrong("a string");
    case "integer":
      return Number.isInteger(value) ? [] : wrong("an integer");
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? [] : wrong("a number");
    case "boolean":
      return typeof value === "boolean" ? [] : wrong("a boolean");
    case "datetime":
      if (typeof value === "number" && Number.isFinite(value)) return [];
      return typeof value === "string" && !Number.isNaN(Date.parse(value))
        ? []
        : wrong("an ISO 8601 date-time");
    case "optional":
      return value === undefined || value === null
        ? []
        : shapeProblems(value, expected.inner, path);
    case "array":
      if (!Array.isArray(value)) return wrong("an array");
      return value.flatMap((item, i) => shapeProblems(item, expected.item, `${path}[${i}]`));
    case "object": {
      if (typeOf(value) !== "object") return wrong("an object");
      const record = value as Record<string, unknown>;
      return Object.entries(expected.fields).flatMap(([name, field]) => {
        const at = `${path}.${name}`;
        if (!(name in record) && field.kind !== "optional") return [`${at}: missing`];
        return shapeProblems(record[name], field, at);
      });
    }
  }
}

/** Throws an `AssertionError` listing every difference between `value` and `expected`. */
export function assertShape(value: unknown, expected: Shape, what = "value"): void {
  const problems = shapeProblems(value, expected);
  if (problems.length > 0) {
    throw new AssertionError({
      message: `${what} does not have the expected shape:\n  ${problems.join("\n  ")}\n` +
        `received: ${JSON.stringify(value)}`,
    });
  }
}

/** One sample of Prometheus text exposition: its metric name and labels. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: string;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition (comments and blank lines skipped). */
export function promSamples(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? "").matchAll(LABEL)) labels[name!] = value!;
    samples.push({ name: match[1]!, labels, value: match[3]! });
  }
  return samples;
}
