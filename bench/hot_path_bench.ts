/**
 * In-process micro-benchmarks of the `/check` hot path, without network or Redis: the whole app
 * over a store that answers at once, and each part on its own, against a floor (parse the JSON,
 * answer). They say what each part costs per request on this machine; compare lines of one run.
 *
 *   deno bench --allow-env --allow-sys=hostname --allow-read bench/hot_path_bench.ts
 *
 * @module
 */
import { createApp } from "../src/http/app.ts";
import { parseConfig } from "../src/config.ts";
import { noOverrides } from "../src/limiter/resolve.ts";
import type { CheckOutcome, LimitRequest } from "../src/limiter/types.ts";
import { silentLogger } from "../src/log.ts";
import { createMetrics } from "../src/metrics/metrics.ts";
import {
  checkBodySchema,
  checkResponse,
  rateLimitHeaders,
  toAnswer,
} from "../src/http/routes/check.ts";
import { Deadlines } from "../src/store/deadlines.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import type { Store } from "../src/store/types.ts";

// The body's limit 1,000,000 is above the default sliding-log policy.
const config = parseConfig({ RATELIMITER_MAX_LIMIT: "1000000" }, { hostname: "bench" });
const body = JSON.stringify({ key: "user:12345", limit: 1_000_000, window_ms: 60_000 });
const decision = { allowed: true, count: 1, remaining: 99, retryAfterMs: 0, resetAfterMs: 60_000 };
const outcome: CheckOutcome = { allowed: true, decisions: [decision], deniedIndex: -1 };

/** A store that answers every check at once, so only the service's own code is measured. */
const instantStore = {
  kind: "redis",
  check: (_r: LimitRequest[]) => Promise.resolve(outcome),
  checkMany: (g: LimitRequest[][]) => Promise.resolve(g.map(() => outcome)),
  reset: () => Promise.resolve(false),
  listCounters: () => Promise.resolve({ counters: [], nextCursor: undefined }),
  countCounters: () => Promise.resolve(0),
  ping: () => Promise.resolve(),
  status: () => "up" as const,
  close: () => Promise.resolve(),
} satisfies Store;

const app = createApp({
  config,
  store: instantStore,
  metrics: createMetrics({ nodeId: "bench", defaultMetrics: false }),
  logger: silentLogger,
  overrides: noOverrides,
});
const request = () =>
  new Request("http://localhost/check", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });

Deno.bench("floor: new Request, JSON.parse of req.text(), new Response", {
  group: "request",
  baseline: true,
}, async () => {
  const req = request();
  const parsed = JSON.parse(await req.text());
  const res = new Response(`{"allowed":true,"remaining":${parsed.limit}}`, {
    status: 200,
    headers: { "content-type": "application/json" },
  });
  await res.arrayBuffer();
});

Deno.bench("service: app.fetch POST /check, instant store", { group: "request" }, async () => {
  const res = await app.fetch(request());
  await res.arrayBuffer();
});

const memoryApp = createApp({
  config,
  store: new MemoryStore({ sweepIntervalMs: 0 }),
  metrics: createMetrics({ nodeId: "bench", defaultMetrics: false }),
  logger: silentLogger,
  overrides: noOverrides,
});
let n = 0;
Deno.bench(
  "service: app.fetch POST /check, embedded store, 10,000 keys",
  { group: "request" },
  async () => {
    const res = await memoryApp.fetch(
      new Request("http://localhost/check", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: `{"key":"user:${n++ % 10_000}","limit":1000000,"window_ms":60000}`,
      }),
    );
    await res.arrayBuffer();
  },
);

const parsedBody = JSON.parse(body);
Deno.bench("part: zod checkBodySchema.safeParse", { group: "parts" }, () => {
  checkBodySchema.safeParse(parsedBody);
});

const metrics = createMetrics({ nodeId: "bench", defaultMetrics: false });
Deno.bench("part: http metrics, labels object (inc + observe)", { group: "parts" }, () => {
  const labels = { method: "POST", route: "/check", status: "200" };
  metrics.httpRequests.inc(labels);
  metrics.httpDuration.observe(labels, 0.001);
});
const boundCounter = metrics.httpRequests.labels({
  method: "POST",
  route: "/check",
  status: "200",
});
const boundHistogram = metrics.httpDuration.labels({
  method: "POST",
  route: "/check",
  status: "200",
});
Deno.bench("part: http metrics, pre-bound children (inc + observe)", { group: "parts" }, () => {
  boundCounter.inc();
  boundHistogram.observe(0.001);
});
Deno.bench("part: checkDuration.observe + checkedAllowed.inc", { group: "parts" }, () => {
  metrics.checkDuration.observe(0.001);
  metrics.checkedAllowed.inc();
});
const limitRequest: LimitRequest = {
  key: "user:12345",
  algorithm: "sliding_log",
  limit: 100,
  windowMs: 60_000,
  cost: 1,
};
Deno.bench("part: toAnswer + rateLimitHeaders + JSON.stringify", { group: "parts" }, () => {
  const answer = toAnswer(limitRequest, decision);
  rateLimitHeaders(answer);
  JSON.stringify(answer);
});
Deno.bench("part: setTimeout + clearTimeout (the body deadline)", { group: "parts" }, () => {
  clearTimeout(setTimeout(() => {}, 10_000));
});
Deno.bench("part: answer Response, every header in the init (as c.json did)", {
  group: "response",
  baseline: true,
}, () => {
  const answer = toAnswer(limitRequest, decision);
  new Response(JSON.stringify(answer), {
    status: 200,
    headers: { "Content-Type": "application/json", ...rateLimitHeaders(answer) },
  });
});
Deno.bench("part: answer Response, Content-Type in the init, then append (checkResponse)", {
  group: "response",
}, () => {
  checkResponse(toAnswer(limitRequest, decision), undefined);
});
Deno.bench("part: store deadline, setTimeout per call (before)", {
  group: "deadline",
  baseline: true,
}, async () => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, 100));
  await Promise.race([Promise.resolve(outcome), deadline]).finally(() => clearTimeout(timer));
});
const deadlines = new Deadlines();
Deno.bench("part: store deadline, shared coarse timer (Deadlines.race)", {
  group: "deadline",
}, async () => {
  await deadlines.race(Promise.resolve(outcome), 100);
});
