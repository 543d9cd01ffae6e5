import assert from "node:assert/strict";
import { parseClusterArgs } from "../../tools/cluster.ts";
import { readLines } from "../_helpers/child_process.ts";
import { postJson } from "../_helpers/node_process.ts";
import { freePort } from "../_helpers/redis_server.ts";
import { integration as opts } from "../_helpers/options.ts";

const CLUSTER = new URL("../../tools/cluster.ts", import.meta.url).pathname;

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie has exited
  } catch {
    return false;
  }
}

Deno.test("parseClusterArgs() defaults to three nodes on 8001-8003 and reads the options", () => {
  assert.deepEqual(parseClusterArgs([]), {
    ports: [8001, 8002, 8003],
    redisUrl: undefined,
    redisPort: 6379,
    listenHost: "127.0.0.1",
  });
  assert.deepEqual(parseClusterArgs(["--nodes", "2", "--base-port", "9001"])?.ports, [9001, 9002]);
  assert.deepEqual(parseClusterArgs(["--ports", "7001,7005"])?.ports, [7001, 7005]);
  assert.equal(
    parseClusterArgs([], { RATELIMITER_REDIS_URL: "redis://h:1" })?.redisUrl,
    "redis://h:1",
  );
  assert.equal(parseClusterArgs(["--help"]), undefined);
  assert.throws(() => parseClusterArgs(["--ports", "7001,7001"]), /distinct/);
  assert.throws(() => parseClusterArgs(["--nodes", "0"]), /--nodes/);
});

Deno.test({
  name: "deno task cluster runs Redis and three nodes on one store and stops them all on SIGINT",
  ...opts,
  async fn() {
    const ports = [freePort(), freePort(), freePort()];
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-run",
        "--allow-net",
        "--allow-env",
        "--allow-read",
        CLUSTER,
        "--ports",
        ports.join(","),
        "--redis-port",
        String(freePort()),
      ],
      env: { RATELIMITER_REDIS_URL: "", RATELIMITER_LOG_LEVEL: "info" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines: string[] = [];
    let onLine = () => {};
    const pumps = Promise.all(
      [child.stdout, child.stderr].map((stream) =>
        readLines(stream, (line) => {
          lines.push(line);
          onLine();
        })
      ),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`not ready:\n${lines.join("\n")}`)),
          60_000,
        );
        onLine = () => {
          if (lines.some((l) => l.startsWith("[cluster] ready:"))) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
      const pids = lines.flatMap((l) => {
        const m = /^\[cluster\] started (\S+) pid (\d+)$/.exec(l);
        return m === null ? [] : [[m[1]!, Number(m[2])] as const];
      });
      assert.deepEqual(pids.map(([name]) => name), ["redis", "node-1", "node-2", "node-3"]);

      for (const [i, port] of ports.entries()) {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        const body = await res.json();
        assert.equal(res.status, 200);
        assert.equal(body.node_id, `node-${i + 1}`);
        assert.equal(body.store.kind, "redis");
      }
      // One limit across the three nodes: they share the Redis the cluster started.
      const statuses = [];
      for (const port of ports) {
        statuses.push(
          (await postJson(`http://127.0.0.1:${port}/check`, { key: "c", limit: 2 })).status,
        );
      }
      assert.deepEqual(statuses, [200, 200, 429]);
      for (const name of ["node-1", "node-2", "node-3"]) {
        assert.ok(lines.some((l) => l.startsWith(`[${name}] {`)), `${name} log lines are prefixed`);
      }

      child.kill("SIGINT");
      const status = await child.status;
      await pumps;
      assert.equal(status.code, 0, lines.join("\n"));
      for (const [name, pid] of pids) {
        assert.equal(alive(pid), false, `${name} (pid ${pid}) is gone`);
      }
      assert.ok(lines.some((l) => l.startsWith("[node-1] ") && l.includes("shutdown_complete")));
    } finally {
      // On failure: stop the cluster, then anything it reported starting that is still there.
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      await Promise.race([child.status, new Promise((r) => setTimeout(r, 20_000))]);
      for (const line of lines) {
        const pid = Number(/^\[cluster\] started \S+ pid (\d+)$/.exec(line)?.[1]);
        if (pid > 0 && alive(pid)) Deno.kill(pid, "SIGKILL");
      }
    }
  },
});
