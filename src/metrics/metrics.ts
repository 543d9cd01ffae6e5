import client from "prom-client";
import { PlainCounter, type PlainCounterChild, PlainHistogram } from "./plain_metrics.ts";

/** Histogram buckets of `ratelimiter_check_duration_seconds`: 100 µs to 1 s. */
export const CHECK_DURATION_BUCKETS = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
];

const GAUGES_NAMED_TOTAL = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/**
 * Default metrics prom-client reads from `/proc/self`. Deno grants `/proc/self` only with
 * `--allow-all`, which nodes never get, so these would read as a misleading 0: dropped, and
 * resident memory is reported from `Deno.memoryUsage()` instead.
 */
const PROC_SELF_METRICS = [
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_heap_bytes",
  "process_open_fds",
  "process_max_fds",
];

/** Options for {@linkcode createMetrics}. */
export interface MetricsOptions {
  /** Value of the `node_id` label on every series. */
  nodeId: string;
  /** Whether to add prom-client's process and runtime metrics. @default {true} */
  defaultMetrics?: boolean;
}

/**
 * The service's Prometheus metrics, in a registry of their own (never prom-client's global one).
 * Every series carries `node_id`. No label ever holds a client-chosen rate-limit key.
 */
export interface Metrics {
  readonly registry: client.Registry;
  /** Pre-bound children of `ratelimiter_requests_checked_total`. */
  readonly checkedAllowed: PlainCounterChild;
  readonly checkedBlocked: PlainCounterChild;
  readonly checkDuration: PlainHistogram;
  readonly nodeUp: client.Gauge<string>;
  readonly activeCounters: client.Gauge<string>;
  readonly storeErrors: client.Counter<"kind">;
  /** 1 while the store answers (circuit closed), 0 while calls to it are refused. */
  readonly storeUp: client.Gauge<string>;
  /** Checks answered by the failure mode instead of the store, by mode. */
  readonly degradedDecisions: client.Counter<"mode">;
  /**
   * Checks the embedded store could not take, by the cap reached (`keys`, `units`) and by what
   * they were answered (`open`: allowed uncounted, `closed`: 503 `store_full`).
   */
  readonly memoryRefusals: client.Counter<"cap" | "answer">;
  /** State of the store's circuit breaker: 0 closed, 1 half-open, 2 open. */
  readonly circuitState: client.Gauge<string>;
  readonly httpRequests: PlainCounter<"method" | "route" | "status">;
  readonly httpDuration: PlainHistogram<"method" | "route" | "status">;
  /** Checks answered from the over-limit cache without asking the store. */
  readonly blockCacheHits: client.Counter<string>;
  /**
   * Envoy protocol decisions per descriptor with a limit (`ratelimiter_rls_decisions_total`), by
   * domain and rule (both from the rules file, so bounded) and result (`ok`, `over_limit`,
   * `shadow` = would have been denied in shadow mode).
   */
  readonly rlsDecisions: PlainCounter<"domain" | "rule" | "result">;
  /**
   * The same for `detailed_metric` rules, with the descriptor's entries (`key_value.key_value`)
   * as a label: at most `MAX_DETAILED_SERIES` (1,000) distinct ones per node, then `_other`.
   */
  readonly rlsDetailedDecisions: PlainCounter<"domain" | "rule" | "descriptor" | "result">;
  /**
   * Calls answered by the gRPC server (`ratelimiter_grpc_calls_total`), by method (the served
   * ones, else `unknown`) and gRPC status code name.
   */
  readonly grpcCalls: PlainCounter<"method" | "code">;
  /** `ratelimiter_rules_reloads_total{result="ok"|"error"}`: reloads of the rules file. */
  readonly rulesReloads: client.Counter<"result">;
  /** Renders the exposition text. */
  render(): Promise<string>;
  /** The content type of {@linkcode Metrics.render}'s output. */
  readonly contentType: string;
}

/** Creates the metrics of one node in a fresh registry. */
export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new client.Registry();
  registry.setDefaultLabels({ node_id: options.nodeId });
  if (options.defaultMetrics ?? true) {
    client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
    // These gauges end in _total, which `promtool check metrics` rejects for non-counters.
    for (const name of GAUGES_NAMED_TOTAL) registry.removeSingleMetric(name);
    for (const name of PROC_SELF_METRICS) registry.removeSingleMetric(name);
    new client.Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      registers: [registry],
      collect() {
        this.set(Deno.memoryUsage().rss);
      },
    });
  }
  // The four metrics updated on every request are plain ones (src/metrics/plain_metrics.ts): prom-client's
  // per-update label checks and hashing cost about 10 % of a check's JavaScript time.
  const checked = new PlainCounter({
    name: "ratelimiter_requests_checked_total",
    help: "Rate-limit checks decided, by result.",
    labelNames: ["result"],
    registry,
  });
  const checkDuration = new PlainHistogram({
    name: "ratelimiter_check_duration_seconds",
    help: "Time to decide one check, store round trip included.",
    buckets: CHECK_DURATION_BUCKETS,
    registry,
  });
  const nodeUp = new client.Gauge({
    name: "ratelimiter_node_up",
    help: "1 while this node serves.",
    registers: [registry],
  });
  nodeUp.set(1);
  const activeCounters = new client.Gauge({
    name: "ratelimiter_active_counters",
    help: "Rate-limit counters holding state, as last counted in the background.",
    registers: [registry],
  });
  const storeErrors = new client.Counter({
    name: "ratelimiter_store_errors_total",
    help: "Store calls that failed, by kind.",
    labelNames: ["kind"],
    registers: [registry],
  });
  const storeUp = new client.Gauge({
    name: "ratelimiter_store_up",
    help: "1 while the store answers (circuit closed), 0 while calls to it are refused.",
    registers: [registry],
  });
  storeUp.set(1);
  const degradedDecisions = new client.Counter({
    name: "ratelimiter_degraded_decisions_total",
    help: "Checks answered by the failure mode (open, closed, local) instead of the store.",
    labelNames: ["mode"],
    registers: [registry],
  });
  const memoryRefusals = new client.Counter({
    name: "ratelimiter_memory_refusals_total",
    help: "Checks the embedded store could not take at its key or unit cap, by cap and answer.",
    labelNames: ["cap", "answer"],
    registers: [registry],
  });
  const circuitState = new client.Gauge({
    name: "ratelimiter_circuit_state",
    help: "State of the store circuit breaker: 0 closed, 1 half-open, 2 open.",
    registers: [registry],
  });
  circuitState.set(0);
  const httpRequests = new PlainCounter({
    name: "http_requests_total",
    help: "HTTP requests answered, by method, route pattern and status.",
    labelNames: ["method", "route", "status"],
    registry,
  });
  const httpDuration = new PlainHistogram({
    name: "http_request_duration_seconds",
    help: "Time to answer an HTTP request, by method, route pattern and status.",
    labelNames: ["method", "route", "status"],
    buckets: CHECK_DURATION_BUCKETS,
    registry,
  });
  const blockCacheHits = new client.Counter({
    name: "ratelimiter_block_cache_hits_total",
    help: "Checks answered as blocked from the node's over-limit cache, without a store call.",
    registers: [registry],
  });
  const rlsDecisions = new PlainCounter({
    name: "ratelimiter_rls_decisions_total",
    help: "Envoy rate limit protocol decisions per limited descriptor, by domain, rule and result.",
    labelNames: ["domain", "rule", "result"],
    registry,
  });
  const rlsDetailedDecisions = new PlainCounter({
    name: "ratelimiter_rls_detailed_total",
    help: "Decisions of detailed_metric rules by descriptor value (capped; then _other).",
    labelNames: ["domain", "rule", "descriptor", "result"],
    registry,
  });
  const rulesReloads = new client.Counter({
    name: "ratelimiter_rules_reloads_total",
    help:
      "Reloads of the rules file (RATELIMITER_RULES_FILE), by result: ok, or error (old rules kept).",
    labelNames: ["result"],
    registers: [registry],
  });
  rulesReloads.labels({ result: "ok" }).inc(0);
  rulesReloads.labels({ result: "error" }).inc(0);
  const grpcCalls = new PlainCounter({
    name: "ratelimiter_grpc_calls_total",
    help:
      "Calls answered by the gRPC server (Envoy's protocol, health), by method and status code.",
    labelNames: ["method", "code"],
    registry,
  });
  // Initialise the result series so dashboards see zeros, not gaps, before the first check.
  const checkedAllowed = checked.labels({ result: "allowed" });
  const checkedBlocked = checked.labels({ result: "blocked" });
  checkedAllowed.inc(0);
  checkedBlocked.inc(0);
  return {
    registry,
    checkedAllowed,
    checkedBlocked,
    checkDuration,
    nodeUp,
    activeCounters,
    storeErrors,
    storeUp,
    degradedDecisions,
    memoryRefusals,
    circuitState,
    httpRequests,
    httpDuration,
    blockCacheHits,
    rlsDecisions,
    rlsDetailedDecisions,
    grpcCalls,
    rulesReloads,
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
