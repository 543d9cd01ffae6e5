import assert from "node:assert/strict";
import { formatSummary } from "../../tools/loadgen.ts";
import { parseLoadgenArgs } from "../../tools/loadgen/args.ts";
import { createKeySampler, parseKeyDistribution, seededRandom } from "../../tools/loadgen/keys.ts";
import { countBatchAnswer, EndpointMissingError, runLoad } from "../../tools/loadgen/run.ts";
import {
  activeWorkers,
  dueRequests,
  factorAt,
  integralFactor,
  parseDuration,
  type Pattern,
} from "../../tools/loadgen/schedule.ts";
import { LatencyRecorder, percentile } from "../../tools/loadgen/stats.ts";
import { type Timed, verifySlidingLog } from "../../tools/loadgen/verify.ts";

Deno.test("parseKeyDistribution() reads single, uniform:N and zipf:N:s and rejects the rest", () => {
  assert.deepEqual(parseKeyDistribution("single"), { kind: "single" });
  assert.deepEqual(parseKeyDistribution("uniform:10000"), { kind: "uniform", keys: 10000 });
  assert.deepEqual(parseKeyDistribution("zipf:500:1.1"), {
    kind: "zipf",
    keys: 500,
    exponent: 1.1,
  });
  for (
    const bad of ["", "uniform", "uniform:0", "uniform:1.5", "zipf:10", "zipf:10:0", "zipf:x:1"]
  ) {
    assert.throws(() => parseKeyDistribution(bad), RangeError, bad);
  }
});

Deno.test("createKeySampler() draws uniform keys in range and Zipf keys by 1/k^s", () => {
  const random = seededRandom(7);
  assert.equal(createKeySampler({ kind: "single" }, random)(), 0);
  const uniform = createKeySampler({ kind: "uniform", keys: 10 }, random);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 100_000; i++) counts[uniform()]++;
  for (const c of counts) assert.ok(c > 9_000 && c < 11_000, `uniform count ${c}`);

  const n = 100;
  const zipf = createKeySampler({ kind: "zipf", keys: n, exponent: 1 }, random);
  const z = new Array(n).fill(0);
  const draws = 200_000;
  for (let i = 0; i < draws; i++) {
    const k = zipf();
    assert.ok(k >= 0 && k < n);
    z[k]++;
  }
  let harmonic = 0;
  for (let k = 1; k <= n; k++) harmonic += 1 / k;
  // P(rank k) = (1/k) / H_n: rank 1 ≈ 19.3 %, rank 2 half of it, rank 10 a tenth.
  for (const [rank, expected] of [[1, 1 / harmonic], [2, 0.5 / harmonic], [10, 0.1 / harmonic]]) {
    const share = z[rank! - 1] / draws;
    assert.ok(
      Math.abs(share - expected!) < expected! * 0.05,
      `rank ${rank}: ${share} vs ${expected}`,
    );
  }
});

Deno.test("percentile() uses the nearest rank; LatencyRecorder keeps memory bounded", () => {
  const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(percentile(sorted, 50), 5);
  assert.equal(percentile(sorted, 90), 9);
  assert.equal(percentile(sorted, 99), 10);
  assert.equal(percentile(sorted, 100), 10);
  assert.equal(percentile([], 50), 0);

  const exact = new LatencyRecorder(1000);
  for (let i = 100; i >= 1; i--) exact.record(i);
  assert.deepEqual(exact.summary(), {
    count: 100,
    mean: 50.5,
    p50: 50,
    p90: 90,
    p99: 99,
    max: 100,
  });

  const bounded = new LatencyRecorder(100, seededRandom(1));
  for (let i = 1; i <= 100_000; i++) bounded.record(i % 1000);
  const s = bounded.summary();
  assert.equal(s.count, 100_000);
  assert.equal(s.max, 999);
  // A uniform reservoir of 100 from 0..999: the median lands near 500.
  assert.ok(s.p50 > 300 && s.p50 < 700, `p50 ${s.p50}`);
  assert.throws(() => new LatencyRecorder(0), RangeError);
});

Deno.test("integralFactor() matches a fine Riemann sum of factorAt() for every pattern", () => {
  const patterns: Pattern[] = [
    { kind: "steady" },
    { kind: "burst", multiplier: 4, durationMs: 300, intervalMs: 1000 },
    { kind: "ramp", from: 0.2, durationMs: 2000 },
  ];
  for (const pattern of patterns) {
    let sum = 0;
    for (let t = 0; t < 5000; t += 0.5) {
      sum += factorAt(pattern, t + 0.25) * 0.5;
      if ((t + 0.5) % 250 === 0) {
        const exact = integralFactor(pattern, t + 0.5);
        assert.ok(Math.abs(exact - sum) < 1, `${pattern.kind} at ${t + 0.5}: ${exact} vs ${sum}`);
      }
    }
  }
});

Deno.test("dueRequests() and activeWorkers() shape the rate and the busy workers", () => {
  const burst: Pattern = { kind: "burst", multiplier: 5, durationMs: 300, intervalMs: 1000 };
  assert.equal(dueRequests({ kind: "steady" }, 1000, 2500), 2500);
  // 3 s at 500/s plus two bursts (at 1 s and 2 s) of 300 ms at 4 × 500/s extra.
  assert.equal(dueRequests({ ...burst }, 500, 3000), 1500 + 2 * 0.3 * 4 * 500);
  assert.equal(dueRequests({ kind: "ramp", from: 0, durationMs: 1000 }, 100, 1000), 50);
  assert.equal(activeWorkers(burst, 10, 500), 10);
  assert.equal(activeWorkers(burst, 10, 1100), 50);
  assert.equal(activeWorkers({ kind: "ramp", from: 0, durationMs: 1000 }, 10, 0), 1);
  assert.equal(activeWorkers({ kind: "ramp", from: 0, durationMs: 1000 }, 10, 500), 5);
});

Deno.test("parseDuration() reads ms, s, m, h and bare seconds", () => {
  assert.equal(parseDuration("250ms", "d"), 250);
  assert.equal(parseDuration("10s", "d"), 10_000);
  assert.equal(parseDuration("1.5", "d"), 1500);
  assert.equal(parseDuration("2m", "d"), 120_000);
  assert.equal(parseDuration("1h", "d"), 3_600_000);
  for (const bad of ["", "10x", "-1s", "0s", "s"]) {
    assert.throws(() => parseDuration(bad, "d"), RangeError);
  }
});

Deno.test("parseLoadgenArgs() applies defaults and reads every option", () => {
  const d = parseLoadgenArgs([], () => "abc");
  assert.deepEqual(d.targets, ["http://127.0.0.1:8000"]);
  assert.equal(d.concurrency, 32);
  assert.equal(d.durationMs, 10_000);
  assert.equal(d.rate, undefined);
  assert.equal(d.keyPrefix, "lg:abc:");
  assert.deepEqual(d.pattern, { kind: "steady" });
  const o = parseLoadgenArgs([
    "-t",
    "http://127.0.0.1:8001/",
    "--target=http://127.0.0.1:8002,http://127.0.0.1:8003",
    "-c",
    "8",
    "-n",
    "500",
    "-r",
    "250",
    "--keys",
    "zipf:100:1.2",
    "--limit",
    "5",
    "--window-ms",
    "1000",
    "--cost",
    "2",
    "--pattern",
    "burst",
    "--burst-multiplier",
    "3",
    "--batch",
    "100",
    "--json",
    "-q",
  ]);
  assert.deepEqual(o.targets, [
    "http://127.0.0.1:8001",
    "http://127.0.0.1:8002",
    "http://127.0.0.1:8003",
  ]);
  assert.equal(o.durationMs, undefined, "-n alone bounds the run");
  assert.equal(o.requests, 500);
  assert.equal(o.rate, 250);
  assert.deepEqual(o.pattern, {
    kind: "burst",
    multiplier: 3,
    durationMs: 1000,
    intervalMs: 10_000,
  });
  assert.equal(o.batch, 100);
  assert.equal(o.cost, 2);
  assert.equal(o.json && o.quiet, true);
});

Deno.test("parseLoadgenArgs() names the flag of every bad value", () => {
  const cases: [string[], RegExp][] = [
    [["-c", "0"], /--concurrency/],
    [["-r", "abc"], /--rate/],
    [["-t", "ftp://x"], /--target/],
    [["--keys", "zipf:1"], /--keys/],
    [["--pattern", "wave"], /--pattern/],
    [["--pattern", "burst", "--burst-duration", "5s", "--burst-interval", "2s"], /burst-duration/],
    [["--verify"], /--keys single/],
    [["--verify", "--keys", "single"], /--limit and --window-ms/],
    [["--verify", "--keys", "single", "--limit", "1", "--window-ms", "1", "--batch", "2"], /batch/],
  ];
  for (const [argv, message] of cases) assert.throws(() => parseLoadgenArgs(argv), message);
  assert.throws(() => parseLoadgenArgs(["--nope"]), /nope/);
});

/** An exact sliding log deciding each request at a random instant inside its interval. */
function simulate(
  limit: number,
  windowMs: number,
  requests: Timed[],
  random: () => number,
): { allowed: Timed[]; denied: Timed[] } {
  const decided = requests
    .map((t) => ({ t, at: t.sent + random() * (t.done - t.sent) }))
    .sort((a, b) => a.at - b.at);
  const log: number[] = [];
  const allowed: Timed[] = [];
  const denied: Timed[] = [];
  for (const { t, at } of decided) {
    while (log.length > 0 && at - log[0]! >= windowMs) log.shift();
    if (log.length < limit) {
      log.push(at);
      allowed.push(t);
    } else denied.push(t);
  }
  return { allowed, denied };
}

function traffic(n: number, spacingMs: number, latencyMs: number, random: () => number): Timed[] {
  return Array.from({ length: n }, (_, i) => {
    const sent = i * spacingMs + random() * spacingMs;
    return { sent, done: sent + random() * latencyMs };
  });
}

Deno.test("verifySlidingLog() accepts an exact limiter, short and long runs alike", () => {
  const random = seededRandom(3);
  const short = simulate(50, 60_000, traffic(2000, 0.5, 5, random), random);
  const s = verifySlidingLog({ limit: 50, windowMs: 60_000, ...short, errors: 0 });
  assert.equal(s.ok, true, s.problems.join("; "));
  assert.equal(s.expectedAllowed, 50);
  const long = simulate(20, 100, traffic(5000, 1, 3, random), random);
  const l = verifySlidingLog({ limit: 20, windowMs: 100, ...long, errors: 0 });
  assert.equal(l.ok, true, l.problems.join("; "));
  assert.equal(l.expectedAllowed, undefined);
  assert.ok(
    l.allowed <= l.maxAllowed && l.allowed > 900,
    `${l.allowed} of at most ${l.maxAllowed}`,
  );
});

Deno.test("verifySlidingLog() catches over-admission, wrong denials and failed requests", () => {
  const random = seededRandom(5);
  const run = simulate(10, 1000, traffic(300, 10, 2, random), random);
  // One denial turned into an allow: 11 allowed within one window.
  const over = verifySlidingLog({
    limit: 10,
    windowMs: 1000,
    allowed: [...run.allowed, run.denied[0]!],
    denied: run.denied.slice(1),
    errors: 0,
  });
  assert.equal(over.ok, false);
  assert.equal(over.maxAllowedInWindow, 11);
  // One allow turned into a denial: a request denied with only 9 possible before it.
  const under = verifySlidingLog({
    limit: 10,
    windowMs: 1000,
    allowed: run.allowed.slice(0, 9),
    denied: [run.allowed[9]!, ...run.denied],
    errors: 0,
  });
  assert.equal(under.ok, false);
  assert.ok(under.wrongDenials >= 1);
  const failed = verifySlidingLog({ limit: 10, windowMs: 100_000, ...run, errors: 1 });
  assert.equal(failed.ok, false);
  assert.match(failed.problems[0]!, /1 requests failed/);
});

Deno.test("countBatchAnswer() counts allowed and blocked checks in a batch answer", () => {
  const results = [{ allowed: true }, { allowed: false }, { allowed: true }];
  assert.deepEqual(countBatchAnswer({ results }), { allowed: 2, blocked: 1 });
  assert.deepEqual(countBatchAnswer(results), { allowed: 2, blocked: 1 });
  assert.throws(() => countBatchAnswer({ nope: 1 }), TypeError);
});

/** A fetch answering like one node with an exact sliding log on the real clock. */
function fakeNode(limit: number, windowMs: number) {
  const logs = new Map<string, number[]>();
  const bodies: unknown[] = [];
  const fetch = (async (_url: string | URL | Request, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body));
    bodies.push(body);
    const now = performance.now();
    const log = (logs.get(body.key) ?? []).filter((t) => now - t < windowMs);
    const ok = log.length < limit;
    if (ok) log.push(now);
    logs.set(body.key, log);
    await new Promise((r) => setTimeout(r, 0));
    return new Response("{}", { status: ok ? 200 : 429 });
  }) as typeof globalThis.fetch;
  return { fetch, bodies };
}

Deno.test("runLoad() sends exactly -n requests round-robin with the configured body", async () => {
  const node = fakeNode(7, 60_000);
  const urls: string[] = [];
  const options = parseLoadgenArgs([
    "-t",
    "http://127.0.0.1:1,http://127.0.0.1:2",
    "-n",
    "300",
    "-c",
    "4",
    "--keys",
    "uniform:10",
    "--limit",
    "7",
    "--window-ms",
    "1000",
    "--key-prefix",
    "p:",
  ]);
  const summary = await runLoad(options, {
    fetch: ((url: string, init?: RequestInit) => {
      urls.push(url);
      return node.fetch(url, init);
    }) as typeof fetch,
  });
  assert.equal(summary.requests, 300);
  assert.equal(summary.allowed + summary.blocked, 300);
  assert.equal(summary.allowed, 70, "10 keys × limit 7");
  assert.equal(urls.filter((u) => u === "http://127.0.0.1:1/check").length, 150);
  for (const body of node.bodies) {
    const b = body as Record<string, unknown>;
    assert.deepEqual(Object.keys(b), ["key", "limit", "window_ms"]);
    assert.match(String(b.key), /^p:\d$/);
  }
  assert.equal(summary.latencyMs.count, 300);
});

Deno.test("runLoad() in open loop sends what is due at the rate, and no more", async () => {
  const node = fakeNode(1_000_000, 1000);
  const options = parseLoadgenArgs(["-r", "200", "-d", "300ms", "-c", "8", "-q"]);
  const summary = await runLoad(options, { fetch: node.fetch });
  // 200/s over 300 ms is 60 due; a busy machine may send a few less before the deadline.
  assert.ok(summary.requests <= 60 && summary.requests >= 30, `${summary.requests} requests`);
  assert.equal(summary.mode, "open");
});

Deno.test("runLoad() --verify passes an exact limiter and fails one that over-admits", async () => {
  const argv = [
    "--keys",
    "single",
    "--limit",
    "20",
    "--window-ms",
    "60000",
    "-n",
    "400",
    "--verify",
  ];
  const good = await runLoad(parseLoadgenArgs(argv), { fetch: fakeNode(20, 60_000).fetch });
  assert.equal(good.verify?.ok, true, good.verify?.problems.join("; "));
  assert.equal(good.allowed, 20);
  const bad = await runLoad(parseLoadgenArgs(argv), { fetch: fakeNode(21, 60_000).fetch });
  assert.equal(bad.verify?.ok, false);
  assert.match(formatSummary(bad), /verify {7}FAILED: .*21 requests were allowed/);
});

Deno.test("runLoad() reports a missing endpoint instead of counting errors", async () => {
  const fetch404 = (() => Promise.resolve(new Response("{}", { status: 404 }))) as typeof fetch;
  await assert.rejects(
    runLoad(parseLoadgenArgs(["--batch", "100", "-n", "5"]), { fetch: fetch404 }),
    EndpointMissingError,
  );
});
