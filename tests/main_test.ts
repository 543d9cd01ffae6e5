import assert from "node:assert/strict";
import { postJson, startNode } from "./_helpers/node_process.ts";
import { freePort, startRedis } from "./_helpers/redis_server.ts";
import { readLines } from "./_helpers/child_process.ts";
import { waitFor } from "./_helpers/wait.ts";
import { nodePermissionFlags } from "../tools/node_permissions.ts";
import { integration as opts } from "./_helpers/options.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

Deno.test({
  name: "main.ts exits 1 before listening and names every bad variable",
  ...opts,
  async fn() {
    const node = await startNode({
      env: { RATELIMITER_DEFAULT_LIMIT: "lots", RATELIMITER_LOG_LEVEL: "chatty" },
      waitReady: false,
    });
    const status = await node.status;
    assert.equal(status.code, 1);
    const line = node.logs.find((l) => l.event === "invalid_config");
    assert.ok(line, JSON.stringify(node.logs));
    assert.match(String(line.message), /RATELIMITER_DEFAULT_LIMIT.*received "lots"/);
    assert.match(String(line.message), /RATELIMITER_LOG_LEVEL.*received "chatty"/);
    assert.equal(node.logs.some((l) => l.event === "listening"), false);
  },
});

Deno.test({
  name: "main.ts starts while Redis cannot be reached, saying so once without the password",
  ...opts,
  async fn() {
    const port = freePort();
    const node = await startNode({
      env: { RATELIMITER_REDIS_URL: `redis://:hunter2@127.0.0.1:${port}` },
    });
    try {
      const health = await fetch(`${node.url}/health`);
      assert.equal(health.status, 200);
      const body = await health.json();
      assert.deepEqual(body.store, { kind: "redis", status: "down" });
      const ready = await fetch(`${node.url}/ready`);
      await ready.body?.cancel();
      assert.equal(ready.status, 503);
      const lines = node.logs.filter((l) => l.event === "redis_unavailable");
      assert.equal(lines.length, 1, JSON.stringify(node.logs));
      assert.match(
        String(lines[0]!.message),
        new RegExp(`Cannot connect to Redis at redis://:\\*\\*\\*@127.0.0.1:${port}`),
      );
      assert.equal(await node.stop("SIGTERM"), 0);
      assert.doesNotMatch(JSON.stringify(node.logs), /hunter2/);
    } finally {
      await node.stop("SIGKILL");
    }
  },
});

Deno.test({
  name: "main.ts exits 1 before listening when the Redis URL is not a redis:// URL",
  ...opts,
  async fn() {
    const node = await startNode({
      env: { RATELIMITER_REDIS_URL: "http://:hunter2@127.0.0.1:6379" },
      waitReady: false,
    });
    assert.equal((await node.status).code, 1);
    const line = node.logs.find((l) => l.event === "invalid_config");
    assert.ok(line, JSON.stringify(node.logs));
    assert.match(
      String(line.message),
      /RATELIMITER_REDIS_URL.*expected a redis:\/\/ or rediss:\/\//,
    );
    assert.equal(node.logs.some((l) => l.event === "listening"), false);
    assert.doesNotMatch(JSON.stringify(node.logs), /hunter2/);
  },
});

Deno.test({
  name: "main.ts serves on the embedded store and exits 0 on SIGTERM",
  ...opts,
  async fn() {
    const node = await startNode();
    const res = await postJson(`${node.url}/check`, { key: "k", limit: 1 });
    assert.equal(res.status, 200);
    assert.equal((await postJson(`${node.url}/check`, { key: "k", limit: 1 })).status, 429);
    assert.equal(await node.stop("SIGTERM"), 0);
    assert.ok(node.logs.some((l) => l.event === "shutdown_complete"));
  },
});

async function runHealthcheck(port: number): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...nodePermissionFlags(), MAIN, "--healthcheck"],
    env: {
      RATELIMITER_NODE_PORT: String(port),
      RATELIMITER_LISTEN_HOST: "127.0.0.1",
      RATELIMITER_GRPC_PORT: "0",
    },
    stdout: "null",
    stderr: "null",
  }).output();
  return out.code;
}

Deno.test({
  name: "main.ts --healthcheck exits 0 while the node serves /health and 1 when nothing answers",
  ...opts,
  async fn() {
    const node = await startNode();
    try {
      assert.equal(await runHealthcheck(node.port), 0);
    } finally {
      await node.stop("SIGTERM");
    }
    assert.equal(await runHealthcheck(node.port), 1);
  },
});

Deno.test({
  name: "main.ts on Redis with only its listed permissions serves checks, metrics and the cache",
  ...opts,
  async fn() {
    await using redis = await startRedis();
    const node = await startNode({ env: { RATELIMITER_REDIS_URL: redis.url } });
    try {
      for (let i = 0; i < 5; i++) await postJson(`${node.url}/check`, { key: "k", limit: 2 });
      const res = await fetch(`${node.url}/metrics`);
      const text = await res.text();
      assert.equal(res.status, 200);
      // Resident memory is real (not prom-client's /proc/self reading, which would be 0).
      assert.match(text, /^process_resident_memory_bytes\{[^}]*\} [1-9]/m);
      assert.doesNotMatch(text, /^process_open_fds/m);
      // The 3rd check was denied by Redis, the 4th and 5th answered from the block cache.
      assert.match(text, /^ratelimiter_block_cache_hits_total\{[^}]*\} 2$/m);
      assert.match(text, /^ratelimiter_requests_checked_total\{result="blocked"[^}]*\} 3$/m);
      assert.equal(await node.stop("SIGTERM"), 0);
      assert.equal(node.logs.some((l) => l.level === "error"), false, JSON.stringify(node.logs));
    } finally {
      await node.stop("SIGKILL");
    }
  },
});

/**
 * Starts `deno task dev` in its own process group (so a failed test can stop the watcher too),
 * sends `signal` to the task once the node listens, and returns how it ended and what it printed.
 */
async function devTaskStoppedBy(signal: Deno.Signal) {
  const port = freePort();
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "task", "dev"],
    cwd: new URL("..", import.meta.url).pathname,
    env: {
      RATELIMITER_NODE_PORT: String(port),
      RATELIMITER_LISTEN_HOST: "127.0.0.1",
      RATELIMITER_GRPC_PORT: "0",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const reading = Promise.all([
    readLines(child.stdout, (line) => lines.push(line)),
    readLines(child.stderr, (line) => lines.push(line)),
  ]);
  const killGroup = () => {
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch { /* already gone */ }
  };
  let stoppedByItself = false;
  try {
    await waitFor(
      "deno task dev to listen",
      () => lines.some((l) => l.includes('"listening"')),
      60_000,
    );
    child.kill(signal);
    // Generous: an idle node drains in milliseconds; only a watcher left running reaches this.
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      killGroup();
    }, 30_000);
    await child.status;
    clearTimeout(timer);
    stoppedByItself = !killed;
  } finally {
    killGroup();
    await child.status;
    await reading;
  }
  return { stoppedByItself, lines };
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test({
    name: `deno task dev stops, watcher included, on ${signal} without an unhandled rejection`,
    ...opts,
    async fn() {
      const { stoppedByItself, lines } = await devTaskStoppedBy(signal);
      const output = lines.join("\n");
      assert.ok(stoppedByItself, `still running 30 s after ${signal}:\n${output}`);
      assert.match(output, /"shutdown_complete"/);
      assert.doesNotMatch(output, /unhandled_rejection|Code not reachable/);
    },
  });
}
