/**
 * Parses and validates rules files: envoyproxy/ratelimit's YAML format plus this service's
 * extensions (`window`, `algorithm`, `burst`, `refill_rate` on `rate_limit`), one domain per YAML
 * document. Every problem is collected, each naming its file, document and path.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type Document, isAlias, isMap, isScalar, isSeq, parseAllDocuments, Scalar } from "yaml";
import { type Algorithm, ALGORITHMS } from "../limiter/types.ts";
import { RulesError } from "./rules_error.ts";
import { type KeyRules, type RuleLevel, type RuleNode, TreeRuleSet } from "./rule_set.ts";
import { parseDuration } from "./duration.ts";
import { type RateLimitRule, RULE_UNITS, type RuleSet, type RuleUnit } from "./types.ts";

/** One rules file's name (as reported in errors and `GET /api/rules`) and its text. */
export interface RulesSource {
  /** The file's path, as errors and `GET /api/rules` name it. */
  name: string;
  /** The file's contents. */
  text: string;
}

/** Options for {@linkcode parseRules}. */
export interface ParseRulesOptions {
  /** The load time the summary reports. @default {now} */
  loadedAt?: Date;
}

/** Largest `requests_per_unit`, `burst` and `refill_rate`: envoyproxy/ratelimit's `uint32`. */
export const MAX_RULE_LIMIT = 4_294_967_295;
/** Longest `window`: the `year` unit, 365 days, in milliseconds. */
export const MAX_RULE_WINDOW_MS = RULE_UNITS.year * 1000;
/** Most YAML nodes one rules file may expand to (aliases included): bounds a hostile file. */
export const MAX_RULE_NODES = 1_000_000;
/** Deepest YAML nesting read (a descriptor level takes two): bounds the recursion. */
export const MAX_RULE_DEPTH = 200;

const DOCUMENT_FIELDS = ["domain", "descriptors"];
const DESCRIPTOR_FIELDS = [
  "key",
  "value",
  "rate_limit",
  "descriptors",
  "shadow_mode",
  "detailed_metric",
  "value_to_metric",
];
const RATE_LIMIT_FIELDS = [
  "unit",
  "unit_multiplier",
  "requests_per_unit",
  "unlimited",
  "name",
  "replaces",
  "window",
  "algorithm",
  "burst",
  "refill_rate",
];
const REPLACES_FIELDS = ["name"];
const TRUE = new Set(["y", "yes", "true", "on"]);
const FALSE = new Set(["n", "no", "false", "off"]);

/** A YAML value as the format reads it: every scalar as its text, `null` for YAML's null. */
type Plain = string | null | Plain[] | Map<string, Plain>;

/**
 * Parses `sources` (in order) into a {@linkcode RuleSet}. Throws a {@linkcode RulesError} listing
 * every problem of every file when any is invalid; nothing partial is ever returned.
 */
export function parseRules(
  sources: readonly RulesSource[],
  options: ParseRulesOptions = {},
): RuleSet {
  const parser = new Parser();
  for (const source of sources) parser.file(source);
  if (parser.issues.length > 0) throw new RulesError(parser.issues);
  return new TreeRuleSet(parser.domains, {
    files: sources.map((s) => s.name),
    hash: rulesHash(sources),
    loadedAt: (options.loadedAt ?? new Date()).toISOString(),
    domains: parser.summary,
  });
}

/** SHA-256 (hex) of `sources`' names and contents, in order: what `GET /api/rules` reports. */
export function rulesHash(sources: readonly RulesSource[]): string {
  const hash = createHash("sha256");
  for (const source of sources) {
    hash.update(source.name).update("\0").update(source.text).update("\0");
  }
  return hash.digest("hex");
}

/** Collects the domains of every file, and every problem found on the way. */
class Parser {
  readonly issues: string[] = [];
  readonly domains = new Map<string, RuleLevel>();
  readonly summary: { domain: string; rules: RateLimitRule[] }[] = [];
  /** Where each domain was first defined, for the duplicate-domain error. */
  readonly #domainAt = new Map<string, string>();

  file(source: RulesSource): void {
    let documents;
    try {
      documents = parseAllDocuments(source.text, { uniqueKeys: true });
    } catch (error) {
      this.issues.push(`${source.name}: cannot parse YAML: ${messageOf(error)}`);
      return;
    }
    let domains = 0;
    if (Array.isArray(documents)) {
      documents.forEach((doc, i) => {
        if (this.#document(source.name, doc, i)) domains++;
      });
    }
    // A file without a domain is most likely one caught half-written: refused, so a reload never
    // swaps every rule for none. (A directory without rules files is fine.)
    if (domains === 0) {
      this.issues.push(`${source.name}: no domain: the file holds no YAML document with one`);
    }
  }

  /** Parses document `i` of a file; whether it holds something (valid or not). */
  #document(name: string, doc: Document.Parsed, i: number): boolean {
    const where = `${name}, document ${i + 1}`;
    if (doc.errors.length > 0) {
      for (const error of doc.errors) this.issues.push(`${where}: ${firstLine(error.message)}`);
      return true;
    }
    if (doc.contents === null) return false; // an empty document, e.g. after a final `---`
    const budget = { left: MAX_RULE_NODES };
    let plain: Plain;
    try {
      plain = toPlain(doc.contents, doc, budget);
    } catch (error) {
      this.issues.push(`${where}: ${messageOf(error)}`);
      return true;
    }
    if (plain === null) return false; // a document holding only comments
    new DocumentParser(this, where).parse(plain);
    return true;
  }

  /**
   * Claims `domain` for the document at `where`; returns where it was claimed first, if it was.
   * A domain is claimed even by a document with errors, so a duplicate is reported either way.
   */
  claimDomain(domain: string, where: string): string | undefined {
    const first = this.#domainAt.get(domain);
    if (first === undefined) this.#domainAt.set(domain, where);
    return first;
  }

  addDomain(domain: string, level: RuleLevel, rules: RateLimitRule[]): void {
    this.domains.set(domain, level);
    this.summary.push({ domain, rules });
  }
}

/** Validates one document (one domain) and builds its tree. */
class DocumentParser {
  readonly #parser: Parser;
  readonly #where: string;
  #domain = "";
  readonly #rules: RateLimitRule[] = [];
  /** Every `replaces` entry, checked once the whole domain is known. */
  readonly #replaces: { name: string; path: string }[] = [];
  readonly #names = new Set<string>();

  constructor(parser: Parser, where: string) {
    this.#parser = parser;
    this.#where = where;
  }

  #issue(path: string, message: string): void {
    this.#parser.issues.push(`${this.#where}, ${path}: ${message}`);
  }

  parse(root: Plain): void {
    const errorsBefore = this.#parser.issues.length;
    if (!(root instanceof Map)) {
      this.#parser.issues.push(
        `${this.#where}: expected a mapping with "domain" and "descriptors", received ${
          kindOf(root)
        }`,
      );
      return;
    }
    this.#unknownFields(root, "", DOCUMENT_FIELDS);
    const domain = this.#string(root.get("domain") ?? null, "domain");
    if (domain === undefined || domain === "") {
      if (domain === "" || root.get("domain") == null) this.#issue("domain", "must not be empty");
    } else {
      this.#domain = domain;
      const first = this.#parser.claimDomain(domain, this.#where);
      if (first !== undefined) {
        this.#issue("domain", `duplicate domain ${JSON.stringify(domain)}, already in ${first}`);
      }
    }
    const level = this.#descriptors(root.get("descriptors") ?? null, "descriptors", []);
    for (const { name, path } of this.#replaces) {
      if (!this.#names.has(name)) {
        this.#issue(
          path,
          `names no rule: no rate_limit of domain ${JSON.stringify(this.#domain)} has the name ${
            JSON.stringify(name)
          }`,
        );
      }
    }
    if (this.#domain !== "" && this.#parser.issues.length === errorsBefore) {
      this.#parser.addDomain(this.#domain, level, this.#rules);
    }
  }

  /** A descriptor list (`null`: none) at `path`, its keys below `parents`. */
  #descriptors(value: Plain, path: string, parents: readonly string[]): RuleLevel {
    const level: RuleLevel = new Map();
    if (value === null) return level;
    if (!Array.isArray(value)) {
      this.#issue(path, `expected a list of descriptors, received ${kindOf(value)}`);
      return level;
    }
    const seen = new Map<string, string>();
    value.forEach((item, i) => {
      const itemPath = `${path}[${i}]`;
      if (!(item instanceof Map)) {
        this.#issue(itemPath, `expected a descriptor (a mapping), received ${kindOf(item)}`);
        return;
      }
      this.#descriptor(item, itemPath, parents, level, seen);
    });
    return level;
  }

  #descriptor(
    item: Map<string, Plain>,
    path: string,
    parents: readonly string[],
    level: RuleLevel,
    seen: Map<string, string>,
  ): void {
    this.#unknownFields(item, path, DESCRIPTOR_FIELDS);
    const key = this.#string(item.get("key") ?? null, `${path}.key`);
    if (item.get("key") == null) this.#issue(`${path}.key`, "is required");
    else if (key === "") this.#issue(`${path}.key`, "must not be empty");
    else if (key?.includes("*")) {
      this.#issue(`${path}.key`, "must not contain *: a wildcard may only end a value");
    }
    const value = this.#string(item.get("value") ?? null, `${path}.value`) ?? "";
    if (value.includes("*") && value.indexOf("*") !== value.length - 1) {
      this.#issue(
        `${path}.value`,
        `a wildcard * may only be the last character, received ${JSON.stringify(value)}`,
      );
    }
    const shadowMode = this.#bool(item.get("shadow_mode") ?? null, `${path}.shadow_mode`);
    const detailedMetric = this.#bool(
      item.get("detailed_metric") ?? null,
      `${path}.detailed_metric`,
    );
    this.#bool(item.get("value_to_metric") ?? null, `${path}.value_to_metric`);
    const finalKey = key === undefined ? "" : value === "" ? key : `${key}_${value}`;
    const nodePath = [...parents, finalKey];
    if (key !== undefined && key !== "") {
      // Keys and values are told apart, not joined: "a_b" + "c" and "a" + "b_c" are distinct.
      const id = JSON.stringify([key, value]);
      const first = seen.get(id);
      if (first !== undefined) {
        this.#issue(
          path,
          `duplicate descriptor: key ${JSON.stringify(key)}${
            value === "" ? " without a value" : ` with value ${JSON.stringify(value)}`
          } is already at ${first}`,
        );
      } else seen.set(id, path);
    }
    const rule = this.#rateLimit(item.get("rate_limit") ?? null, `${path}.rate_limit`, {
      path: nodePath,
      shadowMode: shadowMode === true,
      detailedMetric: detailedMetric === true,
    });
    const children = this.#descriptors(item.get("descriptors") ?? null, `${path}.descriptors`, [
      ...nodePath,
    ]);
    if (key === undefined || key === "" || key.includes("*")) return;
    const node: RuleNode = { rule, children: children.size > 0 ? children : undefined };
    let rules = level.get(key);
    if (rules === undefined) {
      rules = { exact: new Map(), wildcards: [], fallback: undefined } satisfies KeyRules;
      level.set(key, rules);
    }
    if (value === "") {
      rules.fallback ??= node;
      return;
    }
    // A wildcard is an exact value too: a request value of `foo*` itself finds the `foo*` node
    // first, before any wildcard, as in the reference (its map holds every value as written).
    if (!rules.exact.has(value)) rules.exact.set(value, node);
    if (value.endsWith("*")) rules.wildcards.push({ prefix: value.slice(0, -1), node });
  }

  #rateLimit(
    value: Plain,
    path: string,
    at: { path: string[]; shadowMode: boolean; detailedMetric: boolean },
  ): RateLimitRule | undefined {
    if (value === null) return undefined;
    if (!(value instanceof Map)) {
      this.#issue(path, `expected a mapping, received ${kindOf(value)}`);
      return undefined;
    }
    const before = this.#parser.issues.length;
    this.#unknownFields(value, path, RATE_LIMIT_FIELDS);
    const unlimited = this.#bool(value.get("unlimited") ?? null, `${path}.unlimited`);
    const unitText = this.#string(value.get("unit") ?? null, `${path}.unit`) ?? "";
    const windowText = this.#string(value.get("window") ?? null, `${path}.window`) ?? "";
    const algorithmText = this.#string(value.get("algorithm") ?? null, `${path}.algorithm`) ?? "";
    const name = this.#string(value.get("name") ?? null, `${path}.name`) ?? "";
    const rawLimit = value.get("requests_per_unit") ?? null;
    let unit: RuleUnit | undefined;
    if (unitText !== "" && unlimited !== true) {
      const lower = unitText.toLowerCase();
      if (Object.hasOwn(RULE_UNITS, lower)) unit = lower as RuleUnit;
      else {
        this.#issue(
          `${path}.unit`,
          `invalid unit ${JSON.stringify(unitText)}: expected one of ${
            Object.keys(RULE_UNITS).join(", ")
          }`,
        );
      }
    }
    let windowMs: number | undefined;
    if (windowText !== "") {
      windowMs = parseDuration(windowText);
      if (windowMs === undefined || windowMs < 1 || windowMs > MAX_RULE_WINDOW_MS) {
        this.#issue(
          `${path}.window`,
          `expected a duration like 90s, 5m or 1h30m (units ms, s, m, h, d) from 1ms to 365d, ` +
            `received ${JSON.stringify(windowText)}`,
        );
        windowMs = undefined;
      }
    }
    let algorithm: Algorithm | undefined;
    if (algorithmText !== "") {
      if ((ALGORITHMS as readonly string[]).includes(algorithmText)) {
        algorithm = algorithmText as Algorithm;
      } else {
        this.#issue(
          `${path}.algorithm`,
          `expected one of ${ALGORITHMS.join(", ")}, received ${JSON.stringify(algorithmText)}`,
        );
      }
    }
    const multiplier = this.#integer(
      value.get("unit_multiplier") ?? null,
      `${path}.unit_multiplier`,
      1,
    );
    if (multiplier !== undefined && unit !== undefined) {
      const ms = RULE_UNITS[unit] * 1000 * multiplier;
      if (ms > MAX_RULE_WINDOW_MS) {
        this.#issue(
          `${path}.unit_multiplier`,
          `makes a window of ${multiplier} ${unit}s, longer than 365 days`,
        );
      }
    }
    const burst = this.#integer(value.get("burst") ?? null, `${path}.burst`, 1);
    const refillRate = this.#integer(value.get("refill_rate") ?? null, `${path}.refill_rate`, 1);
    if (burst !== undefined && algorithmText !== "gcra") {
      this.#issue(`${path}.burst`, "applies only with algorithm: gcra");
    }
    if (refillRate !== undefined && algorithmText !== "token_bucket") {
      this.#issue(`${path}.refill_rate`, "applies only with algorithm: token_bucket");
    }
    // Read whenever present, as the reference's uint32 field is, even where unlimited ignores it.
    const min = algorithm === undefined ? 0 : 1;
    const limit = rawLimit === null
      ? 0
      : this.#integer(rawLimit, `${path}.requests_per_unit`, unlimited ? 0 : min) ?? 0;
    if (unlimited === undefined) {
      // reported; whether unit and requests_per_unit are needed is unknown
    } else if (unlimited) {
      if (unitText !== "") this.#issue(`${path}.unit`, "must not be set when unlimited is true");
      if (windowText !== "") {
        this.#issue(`${path}.window`, "must not be set when unlimited is true");
      }
      if (algorithmText !== "") {
        this.#issue(`${path}.algorithm`, "must not be set when unlimited is true");
      }
      if (multiplier !== undefined) {
        this.#issue(`${path}.unit_multiplier`, "must not be set when unlimited is true");
      }
    } else {
      if (unitText === "" && windowText === "") {
        this.#issue(
          `${path}.unit`,
          `is required (one of ${Object.keys(RULE_UNITS).join(", ")}), or a window, ` +
            `unless unlimited is true`,
        );
      } else if (unitText !== "" && windowText !== "") {
        this.#issue(`${path}.window`, "must not be set together with unit: choose one");
      } else if (windowText !== "" && multiplier !== undefined) {
        this.#issue(`${path}.unit_multiplier`, "applies only with unit, not with window");
      }
      // An explicit algorithm needs a positive limit (min above); the reference's 0 (deny all)
      // stays available with the default fixed window.
      if (rawLimit === null) {
        this.#issue(
          `${path}.requests_per_unit`,
          "is required unless unlimited is true (0 denies every request)",
        );
      }
    }
    const replaces: string[] = [];
    const rawReplaces = value.get("replaces") ?? null;
    if (rawReplaces !== null && !Array.isArray(rawReplaces)) {
      this.#issue(`${path}.replaces`, `expected a list of {name}, received ${kindOf(rawReplaces)}`);
    } else if (rawReplaces !== null) {
      rawReplaces.forEach((entry, i) => {
        const entryPath = `${path}.replaces[${i}]`;
        if (!(entry instanceof Map)) {
          this.#issue(entryPath, `expected a mapping with a name, received ${kindOf(entry)}`);
          return;
        }
        this.#unknownFields(entry, entryPath, REPLACES_FIELDS);
        const replaced = this.#string(entry.get("name") ?? null, `${entryPath}.name`) ?? "";
        if (replaced === "") this.#issue(`${entryPath}.name`, "must not be empty");
        else if (replaced === name) {
          this.#issue(`${entryPath}.name`, "must not be the name of this same rate_limit");
        } else {
          replaces.push(replaced);
          this.#replaces.push({ name: replaced, path: `${entryPath}.name` });
        }
      });
    }
    if (this.#parser.issues.length > before) return undefined;
    if (name !== "") this.#names.add(name);
    const rule: RateLimitRule = {
      domain: this.#domain,
      path: at.path,
      name: name === "" ? undefined : name,
      unlimited: unlimited === true,
      limit: unlimited ? 0 : limit,
      windowMs: unlimited
        ? 0
        : unit !== undefined
        ? RULE_UNITS[unit] * 1000 * (multiplier ?? 1)
        : windowMs ?? 0,
      unit,
      ...(multiplier === undefined ? {} : { unitMultiplier: multiplier }),
      algorithm: algorithm ?? "fixed_window",
      burst,
      refillRate,
      shadowMode: at.shadowMode,
      detailedMetric: at.detailedMetric,
      replaces,
    };
    this.#rules.push(rule);
    return rule;
  }

  #unknownFields(map: Map<string, Plain>, path: string, known: readonly string[]): void {
    for (const field of map.keys()) {
      if (known.includes(field)) continue;
      const at = path === "" ? field : `${path}.${field}`;
      if (field === "share_threshold") {
        this.#issue(at, "is not supported by this service (counters are never shared)");
      } else this.#issue(at, `unknown field; expected one of ${known.join(", ")}`);
    }
  }

  /** A string field; `undefined` when absent (null) or not a scalar (reported). */
  #string(value: Plain, path: string): string | undefined {
    if (value === null) return undefined;
    if (typeof value === "string") return value;
    this.#issue(path, `expected a string, received ${kindOf(value)}`);
    return undefined;
  }

  /**
   * A YAML 1.1 boolean as envoyproxy/ratelimit reads it (`true`, `yes`, `on`...); absent: false;
   * invalid: `undefined` (reported).
   */
  #bool(value: Plain, path: string): boolean | undefined {
    if (value === null) return false;
    if (typeof value === "string") {
      const lower = value.toLowerCase();
      if (TRUE.has(lower)) return true;
      if (FALSE.has(lower)) return false;
    }
    this.#issue(path, `expected true or false, received ${describe(value)}`);
    return undefined;
  }

  /** A decimal integer in `[min, MAX_RULE_LIMIT]`; absent: `undefined`. */
  #integer(value: Plain, path: string, min: number): number | undefined {
    if (value === null) return undefined;
    const text = typeof value === "string" ? value.replaceAll("_", "") : "";
    const n = /^\+?\d{1,10}$/.test(text) ? Number(text) : NaN;
    if (Number.isSafeInteger(n) && n >= min && n <= MAX_RULE_LIMIT) return n;
    this.#issue(
      path,
      `expected an integer from ${min} to ${MAX_RULE_LIMIT}, received ${describe(value)}`,
    );
    return undefined;
  }
}

/**
 * Converts a YAML node to {@linkcode Plain}, following aliases within `budget` nodes and
 * {@linkcode MAX_RULE_DEPTH} levels.
 */
function toPlain(node: unknown, doc: Document.Parsed, budget: { left: number }, depth = 0): Plain {
  if (--budget.left < 0) {
    throw new RangeError(`expands to more than ${MAX_RULE_NODES} YAML nodes`);
  }
  if (depth > MAX_RULE_DEPTH) {
    throw new RangeError(`nests deeper than ${MAX_RULE_DEPTH} levels`);
  }
  if (node === null || node === undefined) return null;
  if (isAlias(node)) return toPlain(node.resolve(doc), doc, budget, depth);
  if (isScalar(node)) {
    // Every scalar is read as the text written, as envoyproxy/ratelimit (Go, yaml.v2) reads a
    // scalar into a string field: `value: 8080` is "8080", `value: 1.50` is "1.50".
    if (node.type === Scalar.PLAIN || node.type === undefined) {
      if (node.value === null) return null;
      return node.source ?? String(node.value);
    }
    return String(node.value);
  }
  if (isSeq(node)) return node.items.map((item) => toPlain(item, doc, budget, depth + 1));
  if (isMap(node)) {
    const map = new Map<string, Plain>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? pair.key.value : pair.key;
      if (key === null || typeof key === "object") {
        throw new TypeError("every mapping key must be a string");
      }
      map.set(
        String(isScalar(pair.key) ? (pair.key.source ?? key) : key),
        toPlain(pair.value, doc, budget, depth + 1),
      );
    }
    return map;
  }
  throw new TypeError("unexpected YAML node");
}

function kindOf(value: Plain): string {
  if (value === null) return "nothing";
  if (typeof value === "string") return `the scalar ${JSON.stringify(value)}`;
  return Array.isArray(value) ? "a list" : "a mapping";
}

function describe(value: Plain): string {
  return typeof value === "string" ? JSON.stringify(value) : kindOf(value);
}

/** The first line of a YAML error, which says where: `... at line 3, column 1`. */
function firstLine(message: string): string {
  return message.split("\n")[0]!.trim().replace(/:$/, "");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
