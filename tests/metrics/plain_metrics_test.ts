import assert from "node:assert/strict";
import client from "prom-client";
import { PlainCounter, PlainHistogram } from "../../src/metrics/plain_metrics.ts";

/** The same updates on prom-client's metrics and on the plain ones, rendered by one registry each. */
async function renderBoth(
  update: (m: {
    counter: { inc(labels: Record<string, string>, value?: number): void };
    histogram: { observe(labels: Record<string, string>, value: number): void };
    unlabelled: { observe(value: number): void };
  }) => void,
): Promise<[string, string]> {
  const buckets = [0.001, 0.01, 0.1, 1];
  const labelNames = ["method", "status"];
  const reference = new client.Registry();
  reference.setDefaultLabels({ node_id: "n1" });
  const plain = new client.Registry();
  plain.setDefaultLabels({ node_id: "n1" });
  update({
    counter: new client.Counter({
      name: "c_total",
      help: "C.",
      labelNames,
      registers: [reference],
    }),
    histogram: new client.Histogram({
      name: "h_seconds",
      help: "H.",
      labelNames,
      buckets,
      registers: [reference],
    }),
    unlabelled: new client.Histogram({
      name: "u_seconds",
      help: "U.",
      buckets,
      registers: [reference],
    }),
  });
  update({
    counter: new PlainCounter({ name: "c_total", help: "C.", labelNames, registry: plain }),
    histogram: new PlainHistogram({
      name: "h_seconds",
      help: "H.",
      labelNames,
      buckets,
      registry: plain,
    }),
    unlabelled: new PlainHistogram({ name: "u_seconds", help: "U.", buckets, registry: plain }),
  });
  return [await reference.metrics(), await plain.metrics()];
}

Deno.test("plain metrics render exactly like prom-client's", async (t) => {
  await t.step("before any update", async () => {
    const [reference, plain] = await renderBoth(() => {});
    assert.equal(plain, reference);
  });
  await t.step("after updates on several series, bucket edges included", async () => {
    const [reference, plain] = await renderBoth(({ counter, histogram, unlabelled }) => {
      counter.inc({ method: "POST", status: "200" });
      counter.inc({ method: "POST", status: "200" }, 2);
      counter.inc({ method: "GET", status: "404" });
      for (const value of [0, 0.001, 0.0011, 0.5, 1, 3]) {
        histogram.observe({ method: "POST", status: "200" }, value);
        unlabelled.observe(value);
      }
      histogram.observe({ method: "GET", status: "404" }, 0.02);
    });
    assert.match(plain, /h_seconds_bucket\{le="0.001",node_id="n1",method="POST",status="200"\} 2/);
    assert.equal(plain, reference);
  });
});

Deno.test("plain metrics refuse what prom-client refuses", () => {
  const registry = new client.Registry();
  const counter = new PlainCounter({ name: "c_total", help: "C.", labelNames: ["a"], registry });
  const histogram = new PlainHistogram({ name: "h", help: "H.", buckets: [1], registry });
  assert.throws(() => counter.inc({ b: "x" } as never), /not included/);
  assert.throws(() => counter.inc({}), /Missing label/);
  assert.throws(() => counter.inc({ a: "x" }, -1), /decrease/);
  assert.throws(() => histogram.observe(Number.NaN), /not a valid number/);
  assert.throws(
    () => new PlainCounter({ name: "c_total", help: "C.", registry }),
    /already been registered/,
  );
});
