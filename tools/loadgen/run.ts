/**
 * The load generator's engine: sends checks to the targets in an open loop (a fixed, shaped rate,
 * latency measured from when each request was due, so a slow server cannot hide its queueing) or
 * a closed loop (workers sending back to back), and summarises what came back.
 *
 * @module
 */
import type { LoadgenOptions } from "./args.ts";
import { createKeySampler, type Random } from "./keys.ts";
import { activeWorkers, dueRequests, maxFactor } from "./schedule.ts";
import { LatencyRecorder, type LatencySummary } from "./stats.ts";
import { type Timed, type VerifyResult, verifySlidingLog } from "./verify.ts";

/** Counters of a run so far, for the live progress line. */
export interface Progress {
  elapsedMs: number;
  requests: number;
  allowed: number;
  blocked: number;
  errors: number;
  /** Requests per second over the last progress interval. */
  ratePerSec: number;
}

/** The result of a run. */
export interface LoadSummary {
  targets: string[];
  mode: "open" | "closed";
  rate: number | undefined;
  concurrency: number;
  pattern: string;
  keys: string;
  endpoint: "/check" | "/check/batch";
  durationMs: number;
  /** HTTP requests answered or failed. */
  requests: number;
  /** Checks decided (requests × batch size for the batch endpoint). */
  checks: number;
  allowed: number;
  blocked: number;
  errors: number;
  errorKinds: Record<string, number>;
  requestsPerSec: number;
  checksPerSec: number;
  /** Open loop: requests that had to wait for a free slot (the target fell behind the rate). */
  queued: number;
  latencyMs: LatencySummary;
  verify?: VerifyResult;
}

/** Thrown when the target answers 404 or 405: the endpoint does not exist there. */
export class EndpointMissingError extends Error {
  constructor(readonly url: string, readonly status: number) {
    super(`${url} answered ${status}: endpoint not present`);
    this.name = "EndpointMissingError";
  }
}

/** Injection points of {@linkcode runLoad}, for tests and the CLI. */
export interface RunHooks {
  /** @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Monotonic milliseconds. @default {performance.now} */
  now?: () => number;
  /** @default {Math.random} */
  random?: Random;
  /** Called every `progressIntervalMs`. */
  onProgress?: ((progress: Progress) => void) | undefined;
  /** @default {1000} */
  progressIntervalMs?: number;
  /** Aborting stops the run early; the summary covers what was sent. */
  signal?: AbortSignal;
}

/** Most requests `--verify` keeps the times of (16 bytes and an object each). */
export const MAX_VERIFY_RECORDS = 5_000_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Builds the JSON of one check without re-serialising the constant fields each time. */
function checkBodyFactory(options: LoadgenOptions): (key: string) => string {
  let tail = "";
  if (options.limit !== undefined) tail += `,"limit":${options.limit}`;
  if (options.windowMs !== undefined) tail += `,"window_ms":${options.windowMs}`;
  if (options.cost !== undefined) tail += `,"cost":${options.cost}`;
  if (options.algorithm !== undefined) tail += `,"algorithm":${JSON.stringify(options.algorithm)}`;
  return (key) => `{"key":${JSON.stringify(key)}${tail}}`;
}

/** Counts allowed and blocked checks in a batch answer (an array of objects with `allowed`). */
export function countBatchAnswer(body: unknown): { allowed: number; blocked: number } {
  let list: unknown;
  if (Array.isArray(body)) list = body;
  else if (body !== null && typeof body === "object") {
    const o = body as Record<string, unknown>;
    list = o.results ?? o.checks ?? o.decisions;
  }
  if (!Array.isArray(list)) throw new TypeError("Batch answer holds no array of results");
  let allowed = 0;
  let blocked = 0;
  for (const item of list) {
    if ((item as { allowed?: unknown })?.allowed === true) allowed++;
    else blocked++;
  }
  return { allowed, blocked };
}

/** Runs one load test as `options` describe and returns its summary. */
export async function runLoad(options: LoadgenOptions, hooks: RunHooks = {}): Promise<LoadSummary> {
  const doFetch = hooks.fetch ?? fetch;
  const now = hooks.now ?? (() => performance.now());
  const random = hooks.random ?? Math.random;
  const sample = createKeySampler(options.keys, random);
  const body = checkBodyFactory(options);
  const batch = options.batch;
  const path = batch > 0 ? "/check/batch" : "/check";
  const urls = options.targets.map((t) => t + path);
  const makeBody = batch > 0
    ? () => {
      const checks: string[] = [];
      for (let i = 0; i < batch; i++) checks.push(body(options.keyPrefix + sample()));
      return `{"checks":[${checks.join(",")}]}`;
    }
    : () => body(options.keyPrefix + sample());
  const headers = { "content-type": "application/json" };

  const latency = new LatencyRecorder(5_000_000, random);
  const verifyAllowed: Timed[] = [];
  const verifyDenied: Timed[] = [];
  const errorKinds: Record<string, number> = {};
  let requests = 0;
  let allowed = 0;
  let blocked = 0;
  let errors = 0;
  let queued = 0;
  let missing: EndpointMissingError | undefined;
  let verifyOverflow = false;
  let nextTarget = 0;

  const start = now();
  const deadline = options.durationMs === undefined ? Infinity : start + options.durationMs;
  const maxRequests = options.requests ?? Infinity;
  let claimed = 0;
  let stopped = false;
  const stop = () => stopped = true;
  hooks.signal?.addEventListener("abort", stop);
  const finished = () => stopped || missing !== undefined || now() >= deadline;

  const fail = (kind: string) => {
    errors++;
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  };

  /** Sends one request; `dueAt` is when it should have gone out (open loop) or did. */
  const one = async (dueAt: number) => {
    const url = urls[nextTarget++ % urls.length]!;
    const sent = now();
    try {
      const res = await doFetch(url, {
        method: "POST",
        headers,
        body: makeBody(),
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      const status = res.status;
      if (batch > 0 && status === 200) {
        const counted = countBatchAnswer(await res.json());
        allowed += counted.allowed;
        blocked += counted.blocked;
      } else {
        await res.arrayBuffer();
        if (status === 200) allowed++;
        else if (status === 429) blocked++;
        else if (status === 404 || status === 405) {
          missing ??= new EndpointMissingError(url, status);
          fail(`status_${status}`);
        } else fail(`status_${status}`);
      }
      const done = now();
      latency.record(done - dueAt);
      if (options.verify && (status === 200 || status === 429)) {
        if (verifyAllowed.length + verifyDenied.length < MAX_VERIFY_RECORDS) {
          (status === 200 ? verifyAllowed : verifyDenied).push({ sent, done });
        } else verifyOverflow = true;
      }
    } catch (error) {
      fail(error instanceof DOMException && error.name === "TimeoutError" ? "timeout" : "network");
    } finally {
      requests++;
    }
  };

  let lastProgress = { at: start, requests: 0 };
  const progressTimer = hooks.onProgress === undefined ? undefined : setInterval(() => {
    const at = now();
    hooks.onProgress!({
      elapsedMs: at - start,
      requests,
      allowed,
      blocked,
      errors,
      ratePerSec: ((requests - lastProgress.requests) * 1000) / Math.max(1, at - lastProgress.at),
    });
    lastProgress = { at, requests };
  }, hooks.progressIntervalMs ?? 1000);

  try {
    if (options.rate !== undefined) {
      // Open loop: send what is due, bounded by `concurrency` in flight.
      const inFlight = new Set<Promise<void>>();
      while (!finished() && claimed < maxRequests) {
        const t = now();
        const due = Math.min(maxRequests, dueRequests(options.pattern, options.rate, t - start));
        while (claimed < due && !finished()) {
          if (inFlight.size >= options.concurrency) {
            queued++;
            await Promise.race(inFlight);
            continue;
          }
          claimed++;
          const p = one(t).finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        await sleep(1);
      }
      await Promise.all(inFlight);
    } else {
      // Closed loop: workers send back to back; the pattern sets how many are busy.
      const workers = Math.ceil(options.concurrency * maxFactor(options.pattern));
      await Promise.all(Array.from({ length: workers }, async (_, index) => {
        while (!finished() && claimed < maxRequests) {
          if (index >= activeWorkers(options.pattern, options.concurrency, now() - start)) {
            await sleep(5);
            continue;
          }
          claimed++;
          await one(now());
        }
      }));
    }
  } finally {
    clearInterval(progressTimer);
    hooks.signal?.removeEventListener("abort", stop);
  }
  if (missing !== undefined) throw missing;

  const durationMs = now() - start;
  const checks = allowed + blocked;
  const summary: LoadSummary = {
    targets: options.targets,
    mode: options.rate === undefined ? "closed" : "open",
    rate: options.rate,
    concurrency: options.concurrency,
    pattern: options.pattern.kind,
    keys: options.keys.kind === "single"
      ? "single"
      : options.keys.kind === "uniform"
      ? `uniform:${options.keys.keys}`
      : `zipf:${options.keys.keys}:${options.keys.exponent}`,
    endpoint: path,
    durationMs,
    requests,
    checks,
    allowed,
    blocked,
    errors,
    errorKinds,
    requestsPerSec: (requests * 1000) / Math.max(1, durationMs),
    checksPerSec: (checks * 1000) / Math.max(1, durationMs),
    queued,
    latencyMs: latency.summary(),
  };
  if (options.verify) {
    summary.verify = verifySlidingLog({
      limit: options.limit!,
      windowMs: options.windowMs!,
      allowed: verifyAllowed,
      denied: verifyDenied,
      errors,
    });
    if (verifyOverflow) {
      summary.verify.ok = false;
      summary.verify.problems.push(
        `more than ${MAX_VERIFY_RECORDS} requests: too many to verify, use fewer`,
      );
    }
  }
  return summary;
}
