/**
 * Counters and histograms for the per-request hot path, registered in a prom-client `Registry` and
 * exposed exactly as prom-client's own `Counter` and `Histogram` would be (same lines, same label
 * order, same default labels).
 *
 * Why: prom-client validates and hashes the labels on every `inc` / `observe`, even on a bound
 * child, which was about 10 % of a node's JavaScript time per `/check` (`bench/RESULTS.md`,
 * "Third pass"). Here a bound child is a plain object of numbers: an update is a few additions,
 * and the exposition is built only at scrape time. Use them only for metrics updated per request;
 * the rest stay plain prom-client metrics.
 *
 * @module
 */
import type client from "prom-client";

type Labels = Record<string, string>;

/** What prom-client's registry reads from a metric to render it. */
interface MetricValue {
  value: number;
  labels: Labels;
  metricName?: string;
  sharedLabels?: Labels;
}

/** Options shared by {@linkcode PlainCounter} and {@linkcode PlainHistogram}. */
export interface PlainMetricOptions<L extends string> {
  name: string;
  help: string;
  /** Label names, in the order they are exposed. @default {[]} */
  labelNames?: readonly L[];
  /** Registry to register in (required: these metrics never go to prom-client's global one). */
  registry: client.Registry;
}

/** Checks that `labels` names exactly the metric's labels and returns its series id. */
function seriesId(labelNames: readonly string[], labels: Labels): string {
  for (const name in labels) {
    if (!labelNames.includes(name)) {
      throw new Error(`Added label "${name}" is not included in initial labelset`);
    }
  }
  let id = "";
  for (const name of labelNames) {
    const value = labels[name];
    if (value === undefined) throw new Error(`Missing label "${name}"`);
    id += `${name}:${value},`;
  }
  return id;
}

/** The labels of a series as prom-client keeps them: the caller's order, values as strings. */
function copyLabels(labels: Labels): Labels {
  const copy: Labels = {};
  for (const name in labels) copy[name] = String(labels[name]);
  return copy;
}

/** A bound series of a {@linkcode PlainCounter}. */
export interface PlainCounterChild {
  /** Adds `value` (default 1; must be a finite number ≥ 0). */
  inc(value?: number): void;
  /** The total so far (read by the recent-figures sampler, never on the hot path). */
  readonly value: number;
}

class CounterSeries implements PlainCounterChild {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(value = 1): void {
    if (!(value >= 0) || !Number.isFinite(value)) {
      throw new Error("It is not possible to decrease a counter");
    }
    this.value += value;
  }
}

/** A counter exposed like prom-client's `Counter`, cheap to update through bound children. */
export class PlainCounter<L extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly type = "counter";
  readonly aggregator = "sum";
  readonly labelNames: readonly L[];
  #series = new Map<string, CounterSeries>();

  constructor(options: PlainMetricOptions<L>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
    // Like prom-client, an unlabelled counter shows 0 before its first increment.
    if (this.labelNames.length === 0) this.labels({});
    options.registry.registerMetric(this as unknown as client.Metric);
  }

  /** The series of `labels`, created on first use; keep it to update without a lookup. */
  labels(labels: Partial<Record<L, string | number>>): PlainCounterChild {
    const id = seriesId(this.labelNames, labels as Labels);
    let series = this.#series.get(id);
    if (series === undefined) {
      series = new CounterSeries(copyLabels(labels as Labels));
      this.#series.set(id, series);
    }
    return series;
  }

  /** Adds 1 (or `value`) to the series of `labels` (or the unlabelled series). */
  inc(labels?: Partial<Record<L, string | number>> | number, value?: number): void {
    if (typeof labels === "number" || labels === undefined) {
      this.labels({}).inc(labels ?? 1);
    } else {
      this.labels(labels).inc(value ?? 1);
    }
  }

  /** The values as prom-client's registry renders them. */
  get(): { name: string; help: string; type: string; values: MetricValue[]; aggregator: string } {
    const values: MetricValue[] = [];
    for (const series of this.#series.values()) {
      values.push({ value: series.value, labels: series.labels });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: "sum" };
  }

  /** Drops every series (prom-client's `Registry.resetMetrics`). */
  reset(): void {
    this.#series.clear();
    if (this.labelNames.length === 0) this.labels({});
  }
}

/** A bound series of a {@linkcode PlainHistogram}. */
export interface PlainHistogramChild {
  /** Records one observation (a finite number). */
  observe(value: number): void;
}

class HistogramSeries implements PlainHistogramChild {
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly labels: Labels, private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    // Few buckets: a linear scan beats a binary search, and most observations land early.
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** Options for {@linkcode PlainHistogram}. */
export interface PlainHistogramOptions<L extends string> extends PlainMetricOptions<L> {
  /** Upper bounds of the buckets, ascending (`+Inf` is implied). */
  buckets: readonly number[];
}

/** A histogram exposed like prom-client's `Histogram`, cheap to update through bound children. */
export class PlainHistogram<L extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly labelNames: readonly L[];
  readonly buckets: readonly number[];
  #series = new Map<string, HistogramSeries>();

  constructor(options: PlainHistogramOptions<L>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
    this.buckets = [...options.buckets];
    // Like prom-client, an unlabelled histogram shows its zero buckets before any observation.
    if (this.labelNames.length === 0) this.labels({});
    options.registry.registerMetric(this as unknown as client.Metric);
  }

  /** The series of `labels`, created on first use; keep it to update without a lookup. */
  labels(labels: Partial<Record<L, string | number>>): PlainHistogramChild {
    const id = seriesId(this.labelNames, labels as Labels);
    let series = this.#series.get(id);
    if (series === undefined) {
      series = new HistogramSeries(copyLabels(labels as Labels), this.buckets);
      this.#series.set(id, series);
    }
    return series;
  }

  /** Records `value` in the series of `labels` (or the unlabelled series). */
  observe(labels: Partial<Record<L, string | number>> | number, value?: number): void {
    if (typeof labels === "number") this.labels({}).observe(labels);
    else this.labels(labels).observe(value ?? Number.NaN);
  }

  /**
   * A copy of the per-bucket observation counts of the series of `labels` (or the unlabelled
   * series), not cumulative, the last one above every bound; all zeros for a series not seen yet.
   * Read once a second by the recent-figures sampler, never on the hot path.
   */
  bucketCounts(labels: Partial<Record<L, string | number>> = {}): number[] {
    const series = this.#series.get(seriesId(this.labelNames, labels as Labels));
    return series === undefined
      ? new Array<number>(this.buckets.length + 1).fill(0)
      : [...series.counts];
  }

  /** The values as prom-client's registry renders them (cumulative buckets, `_sum`, `_count`). */
  getForPromString(): {
    name: string;
    help: string;
    type: string;
    values: MetricValue[];
    aggregator: string;
  } {
    const values: MetricValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.#series.values()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += series.counts[i]!;
        values.push({
          value: cumulative,
          labels: { le: bound as unknown as string },
          metricName: bucketName,
          sharedLabels: series.labels,
        });
      });
      values.push(
        {
          value: series.count,
          labels: { le: "+Inf" },
          metricName: bucketName,
          sharedLabels: series.labels,
        },
        {
          value: series.sum,
          labels: {},
          metricName: `${this.name}_sum`,
          sharedLabels: series.labels,
        },
        {
          value: series.count,
          labels: {},
          metricName: `${this.name}_count`,
          sharedLabels: series.labels,
        },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: "sum" };
  }

  /** The values with each series' labels merged in, as prom-client's `Histogram.get` gives them. */
  get(): { name: string; help: string; type: string; values: MetricValue[]; aggregator: string } {
    const data = this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({
      ...rest,
      labels: { ...labels, ...sharedLabels },
    }));
    return data;
  }

  /** Drops every series (prom-client's `Registry.resetMetrics`). */
  reset(): void {
    this.#series.clear();
    if (this.labelNames.length === 0) this.labels({});
  }
}
