/**
 * Command line of the load generator, parsed with `node:util` `parseArgs` into a validated
 * {@linkcode LoadgenOptions}. Every bad value throws a `RangeError` naming the flag.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type KeyDistribution, parseKeyDistribution } from "./keys.ts";
import { parseDuration, type Pattern } from "./schedule.ts";

/** Everything a load run needs. */
export interface LoadgenOptions {
  /** Base URLs of the nodes, used round-robin. */
  targets: string[];
  /** Most requests in flight (open loop) or workers (closed loop). */
  concurrency: number;
  /** Stop after this long; `undefined` when only `requests` bounds the run. */
  durationMs: number | undefined;
  /** Stop after this many requests; `undefined` when only the duration bounds the run. */
  requests: number | undefined;
  /** Open loop at this many requests per second; `undefined` for closed loop (as fast as possible). */
  rate: number | undefined;
  keys: KeyDistribution;
  /** Prefix of every key, unique per run unless given. */
  keyPrefix: string;
  /** Sent in each check when set; otherwise the node's defaults apply. */
  limit: number | undefined;
  windowMs: number | undefined;
  cost: number | undefined;
  algorithm: string | undefined;
  pattern: Pattern;
  /** Checks per request to `POST /check/batch`; 0 uses `POST /check`. */
  batch: number;
  /** Per-request timeout in ms. */
  timeoutMs: number;
  verify: boolean;
  json: boolean;
  quiet: boolean;
}

/** Usage text of `deno task loadgen`. */
export const USAGE = `Usage: deno task loadgen [options]

Targets and load
  -t, --target URL          node base URL; repeat for several (round-robin)   [http://127.0.0.1:8000]
  -c, --concurrency N       requests in flight (open loop) or workers (closed loop)          [32]
  -d, --duration D          run time: 500ms, 10s, 2m, 1h                     [10s unless -n given]
  -n, --requests N          stop after N requests
  -r, --rate R              open loop at R requests/s; without it, closed loop as fast as possible
      --pattern P           steady | burst | ramp                                        [steady]
      --burst-multiplier M  rate (or workers) during a burst, times the base              [5]
      --burst-duration D    length of each burst                                           [1s]
      --burst-interval D    a burst starts every D, the first after D                     [10s]
      --ramp-from F         starting fraction of the rate (or workers), 0 to 1            [0.1]
      --ramp-duration D     time to reach the full rate                          [the duration]
What each request checks
      --keys K              single | uniform:N | zipf:N:s                        [uniform:1000]
      --key-prefix P        prefix of every key                         [lg:<random>: per run]
      --limit N, --window-ms N, --cost N, --algorithm A   sent in every check when given
      --batch N             POST /check/batch with N checks per request (0: POST /check)    [0]
      --timeout D           per-request timeout                                            [10s]
Output
      --verify              single key only: check the allowed count against the sliding log
                            (needs --limit and --window-ms); exit 1 if it is wrong
      --json                print the summary as JSON on stdout
  -q, --quiet               no live progress line on stderr
  -h, --help                this text`;

/** Thrown for `--help`: the caller prints {@linkcode USAGE} and exits 0. */
export class HelpRequested extends Error {
  constructor() {
    super("Help requested");
    this.name = "HelpRequested";
  }
}

function integer(value: string | undefined, flag: string, min: number, max: number) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new RangeError(
      `Cannot parse --${flag}: expected an integer from ${min} to ${max}, received "${value}"`,
    );
  }
  return n;
}

function number(value: string | undefined, flag: string, min: number, max: number) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new RangeError(
      `Cannot parse --${flag}: expected a number from ${min} to ${max}, received "${value}"`,
    );
  }
  return n;
}

function target(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`Cannot parse --target "${url}": expected an http:// or https:// URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new RangeError(`Cannot parse --target "${url}": expected an http:// or https:// URL`);
  }
  return url.replace(/\/+$/, "");
}

/** Parses the load generator's command line. `randomId` makes the default key prefix. */
export function parseLoadgenArgs(
  argv: string[],
  randomId: () => string = () => crypto.randomUUID().slice(0, 8),
): LoadgenOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      target: { type: "string", short: "t", multiple: true },
      concurrency: { type: "string", short: "c" },
      duration: { type: "string", short: "d" },
      requests: { type: "string", short: "n" },
      rate: { type: "string", short: "r" },
      pattern: { type: "string" },
      "burst-multiplier": { type: "string" },
      "burst-duration": { type: "string" },
      "burst-interval": { type: "string" },
      "ramp-from": { type: "string" },
      "ramp-duration": { type: "string" },
      keys: { type: "string" },
      "key-prefix": { type: "string" },
      limit: { type: "string" },
      "window-ms": { type: "string" },
      cost: { type: "string" },
      algorithm: { type: "string" },
      batch: { type: "string" },
      timeout: { type: "string" },
      verify: { type: "boolean" },
      json: { type: "boolean" },
      quiet: { type: "boolean", short: "q" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) throw new HelpRequested();
  const targets = (values.target ?? ["http://127.0.0.1:8000"]).flatMap((t) => t.split(","))
    .filter((t) => t !== "").map(target);
  const requests = integer(values.requests, "requests", 1, 1e12);
  const durationMs = values.duration !== undefined
    ? parseDuration(values.duration, "--duration")
    : requests === undefined
    ? 10_000
    : undefined;
  const keys = parseKeyDistribution(values.keys ?? "uniform:1000");
  const pattern = parsePattern(values, durationMs);
  const options: LoadgenOptions = {
    targets,
    concurrency: integer(values.concurrency, "concurrency", 1, 100_000) ?? 32,
    durationMs,
    requests,
    rate: number(values.rate, "rate", 0.001, 10_000_000),
    keys,
    keyPrefix: values["key-prefix"] ?? `lg:${randomId()}:`,
    limit: integer(values.limit, "limit", 1, 1_000_000),
    windowMs: integer(values["window-ms"], "window-ms", 1, 30 * 86_400_000),
    cost: integer(values.cost, "cost", 0, 1_000_000),
    algorithm: values.algorithm,
    pattern,
    batch: integer(values.batch, "batch", 0, 10_000) ?? 0,
    timeoutMs: values.timeout === undefined ? 10_000 : parseDuration(values.timeout, "--timeout"),
    verify: values.verify ?? false,
    json: values.json ?? false,
    quiet: values.quiet ?? false,
  };
  if (options.verify) {
    if (keys.kind !== "single") throw new RangeError("--verify needs --keys single");
    if (options.limit === undefined || options.windowMs === undefined) {
      throw new RangeError("--verify needs --limit and --window-ms (the limit it checks against)");
    }
    if ((options.cost ?? 1) !== 1) throw new RangeError("--verify needs cost 1");
    if (options.algorithm !== undefined && options.algorithm !== "sliding_log") {
      throw new RangeError("--verify checks the exact sliding log only (--algorithm sliding_log)");
    }
    if (options.batch !== 0) throw new RangeError("--verify works with POST /check, not --batch");
  }
  return options;
}

function parsePattern(
  values: Record<string, string | boolean | string[] | undefined>,
  durationMs: number | undefined,
): Pattern {
  const get = (name: string) => values[name] as string | undefined;
  const kind = get("pattern") ?? "steady";
  if (kind === "steady") return { kind };
  if (kind === "burst") {
    const durationMsOfBurst = parseDuration(get("burst-duration") ?? "1s", "--burst-duration");
    const intervalMs = parseDuration(get("burst-interval") ?? "10s", "--burst-interval");
    if (durationMsOfBurst >= intervalMs) {
      throw new RangeError("Cannot use --burst-duration: expected less than --burst-interval");
    }
    return {
      kind,
      multiplier: number(get("burst-multiplier"), "burst-multiplier", 0.01, 1000) ?? 5,
      durationMs: durationMsOfBurst,
      intervalMs,
    };
  }
  if (kind === "ramp") {
    const rampMs = get("ramp-duration") !== undefined
      ? parseDuration(get("ramp-duration")!, "--ramp-duration")
      : durationMs;
    if (rampMs === undefined) {
      throw new RangeError("--pattern ramp needs --ramp-duration or --duration");
    }
    return { kind, from: number(get("ramp-from"), "ramp-from", 0, 1) ?? 0.1, durationMs: rampMs };
  }
  throw new RangeError(`Cannot parse --pattern "${kind}": expected steady, burst or ramp`);
}
