/**
 * The Redis store stack as `main.ts` builds it, over a {@linkcode FakeStore}: a
 * {@linkcode FailureModeStore} around a {@linkcode BreakerStore}, sharing one metrics registry and
 * one logger that records its lines.
 *
 * @module
 */
import type { FailureMode } from "../../src/store/failure_mode_store.ts";
import type { LimitRequest } from "../../src/limiter/types.ts";
import { createLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { BreakerStore, type BreakerStoreOptions } from "../../src/store/breaker_store.ts";
import {
  FailureModeStore,
  type FailureModeStoreOptions,
} from "../../src/store/failure_mode_store.ts";
import { FakeStore } from "../_helpers/fake_store.ts";

/** Deadline of the stack's calls, in ms. */
export const TIMEOUT_MS = 40;
/** Generous slack over a deadline on a shared machine: a bound on hanging, not a speed test. */
export const MARGIN_MS = 1000;

/** Options of either decorator, routed to the one that takes them. */
export type StackOptions =
  & Partial<Omit<BreakerStoreOptions, "inner" | "metrics" | "logger">>
  & Partial<Omit<FailureModeStoreOptions, "inner" | "metrics">>;

/** A sliding-log request on `key`. */
export function req(key: string, limit = 10, cost = 1): LimitRequest {
  return { key, algorithm: "sliding_log", limit, windowMs: 60_000, cost };
}

/** Builds the stack in `failureMode` over a fresh {@linkcode FakeStore}. */
export function setup(failureMode: FailureMode = "open", options: StackOptions = {}) {
  const inner = new FakeStore();
  const metrics = createMetrics({ nodeId: "n", defaultMetrics: false });
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "info", write: (line) => logs.push(JSON.parse(line)) });
  const { liveNodes, batchChunkLimits, localMaxKeys, ...breakerOptions } = options;
  const breaker = new BreakerStore({
    inner,
    timeoutMs: TIMEOUT_MS,
    failureMode,
    probeIntervalMs: 50,
    metrics,
    logger,
    ...breakerOptions,
  });
  const store = new FailureModeStore({
    inner: breaker,
    failureMode,
    metrics,
    ...(liveNodes === undefined ? {} : { liveNodes }),
    ...(batchChunkLimits === undefined ? {} : { batchChunkLimits }),
    ...(localMaxKeys === undefined ? {} : { localMaxKeys }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const metric = async (pattern: RegExp): Promise<number> => {
    const line = (await metrics.render()).split("\n").find((l) => pattern.test(l));
    return line === undefined ? NaN : Number(line.split(" ").at(-1));
  };
  return { inner, breaker, store, metrics, logs, metric };
}

/** Runs `run` and measures how long it took, in ms. */
export async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started };
}

/** Polls `condition` every 10 ms until it holds; throws after `ms`. */
export async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
