/**
 * Checks the compose cluster without a Docker engine: the compose file's structure, the
 * Prometheus config with `promtool check config`, and every Grafana panel's query with
 * `promtool check rules` and against the metrics `src/metrics/metrics.ts` registers.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { CONFIG_ENV_VARS, parseConfig } from "../../src/config.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";
import { parseLoadgenArgs } from "../../tools/loadgen/args.ts";
import { freePort, pingRedis, redisServerArgs } from "../../tools/local_redis.ts";
import { stopChild } from "../_helpers/child_process.ts";
import { integration } from "../_helpers/options.ts";
import { promtool } from "../_helpers/promtool.ts";
import { RedisCli } from "../_helpers/redis_cli.ts";
import { waitFor } from "../_helpers/wait.ts";

const DEPLOY = new URL("../../deploy/", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, DEPLOY));

// deno-lint-ignore no-explicit-any
type Yaml = any;
const compose: Yaml = parse(read("compose.yaml"), { merge: true });
const dashboard: Yaml = JSON.parse(read("grafana/dashboards/ratelimiter.json"));

/** Names of every series `createMetrics()` can expose, histogram suffixes included. */
async function exposedMetricNames(): Promise<Set<string>> {
  const text = await createMetrics({ nodeId: "n" }).render();
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = match;
    names.add(name!);
    if (type === "histogram") {
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    }
  }
  return names;
}

function panelQueries(): { title: string; expr: string }[] {
  return dashboard.panels.flatMap((p: Yaml) =>
    p.targets.map((t: Yaml) => ({ title: p.title as string, expr: t.expr as string }))
  );
}

/** A panel query as plain PromQL: Grafana's variables replaced by values Prometheus accepts. */
const toPromQl = (expr: string) =>
  expr.replaceAll("$__rate_interval", "1m").replaceAll("$node", ".*");

/** The services `docker compose --profile <profile> up` adds (none: those it always starts). */
function servicesOf(profile: string | undefined): string[] {
  return (Object.entries(compose.services) as [string, Yaml][])
    .filter(([, s]) =>
      profile === undefined ? s.profiles === undefined : s.profiles?.includes(profile)
    )
    .map(([name]) => name)
    .sort();
}

Deno.test("compose.yaml runs Redis 7, three nodes on 8001-8003, Prometheus, Grafana, loadgen", () => {
  const services = compose.services;
  assert.deepEqual(servicesOf(undefined), [
    "grafana",
    "node-1",
    "node-2",
    "node-3",
    "prometheus",
    "redis",
  ]);
  assert.deepEqual(servicesOf("loadgen"), ["loadgen"]);
  assert.deepEqual(servicesOf("cluster"), [
    "cnode-1",
    "cnode-2",
    "cnode-3",
    "redis-c1",
    "redis-c2",
    "redis-c3",
    "redis-cluster-init",
  ]);
  assert.equal(Object.keys(services).length, 14, "every service is in one of those sets");
  assert.match(services.redis.image, /^redis:7\.\d+\.\d+(-\w+)?$/);
  assert.deepEqual(services.redis.healthcheck.test, ["CMD", "redis-cli", "ping"]);
  for (const [name, service] of Object.entries(services) as [string, Yaml][]) {
    assert.ok(service.image, `${name} names an image`);
    assert.match(service.image, /:[\w.-]+$/, `${name} image has a tag`);
    assert.doesNotMatch(service.image, /:latest$/, `${name} image is pinned`);
  }
  assert.deepEqual(services.loadgen.profiles, ["loadgen"], "the load generator is optional");
});

/** Compose's `${NAME:?message}`: the variable must be set and non-empty, or compose refuses. */
const REQUIRED_VARIABLE = /^\$\{(\w+):\?([^}]+)\}$/;

/** `env` with each required variable replaced by `values[name]`, as compose interpolates it. */
function interpolate(env: Record<string, string>, values: Record<string, string>) {
  return Object.fromEntries(
    Object.entries(env).map(([name, value]) => {
      const match = REQUIRED_VARIABLE.exec(value);
      return [name, match ? values[match[1]!] ?? "" : value];
    }),
  );
}

Deno.test("compose.yaml publishes every port on 127.0.0.1 only", () => {
  let published = 0;
  for (const [name, service] of Object.entries(compose.services) as [string, Yaml][]) {
    for (const port of (service.ports ?? []) as unknown[]) {
      assert.equal(typeof port, "string", `${name}: short syntax, so the host address is visible`);
      assert.match(port as string, /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${port}`);
      published++;
    }
  }
  assert.equal(published, 8, "three nodes, Prometheus, Grafana and the cluster profile's nodes");
});

Deno.test("compose.yaml gives every node the admin token from a required variable", () => {
  for (const name of ["node-1", "node-2", "node-3", "cnode-1", "cnode-2", "cnode-3"]) {
    const env: Record<string, string> = compose.services[name].environment;
    const match = REQUIRED_VARIABLE.exec(env.RATELIMITER_ADMIN_TOKEN ?? "");
    assert.ok(match, `${name}: RATELIMITER_ADMIN_TOKEN is \${RATELIMITER_ADMIN_TOKEN:?...}`);
    assert.equal(match[1], "RATELIMITER_ADMIN_TOKEN");
    assert.match(match[2]!, /RATELIMITER_ADMIN_TOKEN/, "the message names the variable");
    const token = "t".repeat(32);
    const config = parseConfig(interpolate(env, { RATELIMITER_ADMIN_TOKEN: token }));
    assert.equal(config.adminToken, token);
  }
});

Deno.test("compose.yaml nodes build the Dockerfile and share one Redis with valid config", () => {
  for (const i of [1, 2, 3]) {
    const node = compose.services[`node-${i}`];
    assert.deepEqual(node.ports, [`127.0.0.1:800${i}:8000`]);
    assert.equal(node.build.context, "..");
    Deno.statSync(new URL(`${node.build.context}/${node.build.dockerfile}`, DEPLOY));
    assert.equal(node.depends_on.redis.condition, "service_healthy");
    const env: Record<string, string> = node.environment;
    for (const name of Object.keys(env)) assert.ok(CONFIG_ENV_VARS.includes(name), name);
    const config = parseConfig(
      interpolate(env, { RATELIMITER_ADMIN_TOKEN: "t".repeat(32) }),
      { hostname: "container" },
    );
    assert.equal(config.redisUrl, "redis://redis:6379");
    assert.equal(config.nodeId, `node-${i}`);
    assert.equal(config.nodePort, 8000);
    assert.equal(config.listenHost, "0.0.0.0");
    // Docker's stop timeout must outlast the node's own drain period.
    const stopSeconds = Number(/^(\d+)s$/.exec(node.stop_grace_period)?.[1]);
    assert.ok(stopSeconds * 1000 > config.shutdownGraceMs, "stop_grace_period > shutdown grace");
  }
});

/** A compose string as the container gets it: `$$` is compose's escape for a literal `$`. */
function unescapeCompose(text: string): string {
  assert.doesNotMatch(text.replaceAll("$$", ""), /\$/, "every $ is escaped from compose");
  return text.replaceAll("$$", "$");
}

Deno.test("compose.yaml cluster profile: three cluster nodes in cluster mode on 8011-8013", () => {
  const seeds = ["redis-c1", "redis-c2", "redis-c3"];
  for (const i of [1, 2, 3]) {
    const node = compose.services[`cnode-${i}`];
    assert.deepEqual(node.ports, [`127.0.0.1:801${i}:8000`]);
    assert.deepEqual(node.profiles, ["cluster"]);
    assert.deepEqual(node.depends_on, {
      "redis-cluster-init": { condition: "service_completed_successfully" },
    });
    const env: Record<string, string> = node.environment;
    for (const name of Object.keys(env)) assert.ok(CONFIG_ENV_VARS.includes(name), name);
    const config = parseConfig(
      interpolate(env, { RATELIMITER_ADMIN_TOKEN: "t".repeat(32) }),
      { hostname: "container" },
    );
    assert.equal(config.redisMode, "cluster");
    assert.deepEqual(config.redisUrl?.split(","), seeds.map((h) => `redis://${h}:6379`));
    assert.equal(config.nodeId, `cnode-${i}`);
  }
  for (const host of seeds) {
    const redis = compose.services[host];
    assert.equal(redis.hostname, host, "announces the name the seeds use");
    assert.match(redis.image, /^redis:7\.\d+\.\d+(-\w+)?$/);
    assert.equal(redis.ports, undefined, "not published");
    assert.deepEqual(compose.services["redis-cluster-init"].depends_on[host], {
      condition: "service_healthy",
    });
  }
});

/** The cluster nodes' `redis-server` command line, as the container's shell runs it. */
function clusterRedisCommand(): string {
  const [shell, flag, script] = compose.services["redis-c1"].command as string[];
  assert.deepEqual([shell, flag], ["sh", "-c"]);
  return unescapeCompose(script!);
}

Deno.test("compose.yaml cluster profile: redis-server accepts the cluster nodes' options", async () => {
  const command = clusterRedisCommand();
  for (const option of ["--cluster-enabled yes", "--cluster-require-full-coverage no"]) {
    assert.ok(command.includes(option), option);
  }
  const dir = await Deno.makeTempDir();
  const port = freePort();
  // The container's command, on a free loopback port, in a temporary directory.
  const child = new Deno.Command("sh", {
    args: ["-c", `${command} --port ${port} --bind 127.0.0.1 --dir ${dir} --daemonize no`],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    await waitFor("the cluster node to answer PING", () => pingRedis(port), 20_000);
    const cli = new RedisCli(port);
    try {
      assert.match(await cli.cli("CLUSTER", "INFO"), /^cluster_enabled:1|cluster_state:/m);
      assert.equal(
        await cli.cli("CONFIG", "GET", "cluster-require-full-coverage"),
        "cluster-require-full-coverage\nno",
      );
      assert.equal(
        await cli.cli("CONFIG", "GET", "cluster-preferred-endpoint-type"),
        "cluster-preferred-endpoint-type\nhostname",
      );
    } finally {
      cli.close();
    }
  } finally {
    await stopChild(child, "SIGTERM", 5000);
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "compose.yaml cluster profile: the init script joins three real nodes once, then is a no-op",
  ...integration,
  async fn() {
    const [shell, flag, script] = compose.services["redis-cluster-init"].command as string[];
    assert.deepEqual([shell, flag], ["sh", "-ec"]);
    const dir = await Deno.makeTempDir();
    const ports = [freePort(), freePort(), freePort()];
    const nodes = await Promise.all(ports.map(async (port) => {
      const child = new Deno.Command("redis-server", {
        args: [
          ...redisServerArgs(port),
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          `${dir}/nodes-${port}.conf`,
          "--cluster-require-full-coverage",
          "no",
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await waitFor(`redis-server ${port}`, () => pingRedis(port), 20_000);
      return child;
    }));
    // Stand-ins for the container's name resolution: redis-cN is 10.0.0.N, and redis-cli
    // reaches 10.0.0.N:6379 (or -h redis-cN) at 127.0.0.1 on node N's port.
    const bin = `${dir}/bin`;
    await Deno.mkdir(bin);
    const map = ports.map((p, i) =>
      `-e "s/10\\.0\\.0\\.${i + 1}:6379/127.0.0.1:${p}/g" -e "s/^redis-c${
        i + 1
      }$/127.0.0.1 -p ${p}/"`
    ).join(" ");
    await Deno.writeTextFile(
      `${bin}/getent`,
      `#!/bin/sh\n[ "$1" = hosts ] || exit 2\necho "10.0.0.\${2#redis-c} $2"\n`,
    );
    await Deno.writeTextFile(
      `${bin}/redis-cli`,
      `#!/bin/sh\nset -f\nargs=""\nfor a in "$@"; do args="$args $(printf %s "$a" | sed ${map})"; done\n` +
        `exec ${await which("redis-cli")} $args\n`,
    );
    await Deno.chmod(`${bin}/getent`, 0o755);
    await Deno.chmod(`${bin}/redis-cli`, 0o755);
    const run = () =>
      new Deno.Command("sh", {
        args: ["-ec", unescapeCompose(script!)],
        env: { PATH: `${bin}:${Deno.env.get("PATH")}` },
        stdout: "piped",
        stderr: "piped",
      }).output();
    try {
      const first = await run();
      const output = new TextDecoder().decode(first.stdout) +
        new TextDecoder().decode(first.stderr);
      assert.equal(first.code, 0, output);
      assert.match(output, /All 16384 slots covered/);
      for (const port of ports) {
        const cli = new RedisCli(port);
        const info = await cli.cli("CLUSTER", "INFO");
        cli.close();
        assert.match(info, /^cluster_state:ok/m);
        assert.match(info, /^cluster_known_nodes:3/m);
        assert.match(info, /^cluster_size:3/m);
      }
      const again = await run();
      const second = new TextDecoder().decode(again.stdout) +
        new TextDecoder().decode(again.stderr);
      assert.equal(again.code, 0, second);
      assert.doesNotMatch(second, /Creating cluster|Performing hash slots allocation/);
    } finally {
      await Promise.all(nodes.map((child) => stopChild(child, "SIGKILL", 5000)));
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function which(command: string): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `command -v ${command}`],
    stdout: "piped",
  })
    .output();
  const path = new TextDecoder().decode(out.stdout).trim();
  assert.ok(out.success && path !== "", `${command} is on PATH`);
  return path;
}

Deno.test("Prometheus config passes promtool and scrapes exactly the three nodes", async () => {
  const mount = compose.services.prometheus.volumes[0] as string;
  const [source, target] = mount.split(":");
  assert.equal(target, "/etc/prometheus/prometheus.yml");
  const path = new URL(source!, DEPLOY).pathname;
  const check = await promtool(["check", "config", path]);
  assert.equal(check.code, 0, check.output);
  const config = parse(Deno.readTextFileSync(path));
  const jobs = config.scrape_configs;
  assert.equal(jobs.length, 1);
  assert.equal(jobs[0].job_name, "ratelimiter");
  assert.deepEqual(jobs[0].static_configs[0].targets, [
    "node-1:8000",
    "node-2:8000",
    "node-3:8000",
  ]);
});

Deno.test("Grafana provisioning points at the mounted dashboards and Prometheus", () => {
  const grafana = compose.services.grafana;
  const mounts = Object.fromEntries(
    (grafana.volumes as string[]).map((v) => v.split(":")).map(([s, t]) => [t, s]),
  );
  const provider = parse(read("grafana/provisioning/dashboards/ratelimiter.yml"));
  const dashboardsDir = provider.providers[0].options.path;
  assert.ok(mounts[dashboardsDir], `${dashboardsDir} is mounted`);
  Deno.statSync(new URL(`${mounts[dashboardsDir]}/ratelimiter.json`, DEPLOY));
  assert.ok(mounts["/etc/grafana/provisioning"]);
  const datasource = parse(read("grafana/provisioning/datasources/prometheus.yml")).datasources[0];
  assert.equal(datasource.url, "http://prometheus:9090");
  assert.equal(
    grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH.startsWith(dashboardsDir),
    true,
  );
  for (const panel of dashboard.panels) {
    assert.equal(panel.datasource.uid, datasource.uid, panel.title);
    for (const target of panel.targets) assert.equal(target.datasource.uid, datasource.uid);
  }
});

Deno.test("Grafana dashboard has the panels operators need", () => {
  const titles = dashboard.panels.map((p: Yaml) => p.title as string);
  for (
    const wanted of [
      "Allowed vs blocked per node",
      "Check latency p50 / p99 per node",
      "Nodes up",
      "Store errors",
      "Degraded decisions",
      "Active counters",
      "Over-limit cache hits",
    ]
  ) {
    assert.ok(titles.includes(wanted), wanted);
  }
  const ids = dashboard.panels.map((p: Yaml) => p.id);
  assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
  const latency = panelQueries().filter((q) => q.title.startsWith("Check latency"));
  assert.deepEqual(
    latency.map((q) => /histogram_quantile\((0\.\d+),/.exec(q.expr)?.[1]),
    ["0.5", "0.99"],
  );
});

Deno.test("every Grafana query is valid PromQL over metrics the service exposes", async () => {
  const exposed = await exposedMetricNames();
  const queries = panelQueries();
  for (const { title, expr } of queries) {
    const names = expr.match(/\b(ratelimiter|http|process|nodejs)_[a-z_]+\b/g) ?? [];
    assert.ok(names.length > 0 || /\bup\{/.test(expr), `${title} queries a metric`);
    for (const name of names) {
      assert.ok(exposed.has(name), `${title}: ${name} exists`);
    }
  }
  const rules = {
    groups: [{
      name: "dashboard",
      rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: toPromQl(q.expr) })),
    }],
  };
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify(rules));
    const check = await promtool(["check", "rules", file]);
    assert.equal(check.code, 0, check.output);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("compose.yaml's load generator command is valid for tools/loadgen.ts", () => {
  const command: string[] = compose.services.loadgen.command;
  const script = command.indexOf("tools/loadgen.ts");
  assert.ok(script > 0, "runs tools/loadgen.ts");
  assert.deepEqual(command.slice(0, script).filter((a) => a.startsWith("--allow")), [
    "--allow-net",
  ]);
  const options = parseLoadgenArgs(command.slice(script + 1));
  assert.deepEqual(options.targets, [
    "http://node-1:8000",
    "http://node-2:8000",
    "http://node-3:8000",
  ]);
  assert.ok(options.rate !== undefined, "a steady open-loop rate");
});
