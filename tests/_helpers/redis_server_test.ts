/**
 * Where {@linkcode startRedis} gets Redis from, checked in a subprocess with a chosen `PATH`: no
 * redis-server and no docker (a one-line message naming the package), or a stand-in `docker`
 * that runs the local redis-server binary (these machines have no Docker engine).
 *
 * @module
 */
import assert from "node:assert/strict";
import { REDIS_IMAGE, REDIS_MISSING_MESSAGE } from "./redis_server.ts";
import { integration as opts } from "./options.ts";

const HELPER = new URL("./redis_server.ts", import.meta.url).href;

/** Starts Redis through the helper, uses it as the tests do, stops it; prints what it saw. */
const PROBE = `
import { startRedis } from ${JSON.stringify(HELPER)};
const redis = await startRedis();
const seen = { port: redis.port, set: await redis.cli("SET", "k", "v"), get: await redis.cli("GET", "k") };
redis.freeze();
redis.thaw();
await redis.kill();
await redis.restart();
seen.afterRestart = await redis.cli("GET", "k");
await redis.stop();
console.log(JSON.stringify(seen));
`;

/** Records its arguments; `run` starts REDIS_SERVER by absolute path on the published port. */
const FAKE_DOCKER = `#!/bin/sh
PATH=/usr/bin:/bin
echo "$*" >> "$DOCKER_LOG"
pidof() { cat "$DOCKER_STATE/$1.pid"; }
gone() { i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; }
case "$1" in
  info) exit 0 ;;
  run)
    shift
    while [ $# -gt 0 ]; do
      case "$1" in
        --detach) shift ;;
        --name) name=$2; shift 2 ;;
        --publish) port=\${2#127.0.0.1:}; port=\${port%%:*}; shift 2 ;;
        *) break ;;
      esac
    done
    shift 2 # the image and "redis-server"
    "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 "$@" </dev/null >/dev/null 2>&1 &
    echo $! > "$DOCKER_STATE/$name.pid"
    echo "$name" ;;
  pause) kill -STOP "$(pidof "$2")" ;;
  unpause) kill -CONT "$(pidof "$2")" ;;
  stop) pid=$(pidof "$4"); kill -TERM "$pid"; gone "$pid" ;;
  rm) pid=$(pidof "$3"); kill -KILL "$pid" 2>/dev/null; gone "$pid" ;;
  *) exit 1 ;;
esac
`;

async function probe(path: string, env: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(script, PROBE);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-run", "--allow-net", "--allow-read", script],
      env: { ...env, PATH: path },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function redisServerPath(): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", "command -v redis-server"],
    stdout: "piped",
  }).output();
  const path = new TextDecoder().decode(out.stdout).trim();
  assert.ok(out.success && path.startsWith("/"), "this test itself needs redis-server on PATH");
  return path;
}

Deno.test({
  name: "startRedis() without redis-server or docker fails with one line naming the package",
  ...opts,
  async fn() {
    const empty = await Deno.makeTempDir();
    try {
      const { code, stderr } = await probe(empty);
      assert.equal(code, 1);
      assert.ok(stderr.includes(REDIS_MISSING_MESSAGE), stderr);
      assert.match(REDIS_MISSING_MESSAGE, /apt-get install -y redis-server/);
      assert.doesNotMatch(REDIS_MISSING_MESSAGE, /\n/);
      assert.doesNotMatch(stderr, /NotFound:|Timed out/);
    } finally {
      await Deno.remove(empty, { recursive: true });
    }
  },
});

Deno.test({
  name: "startRedis() without redis-server on PATH runs redis:7 with docker on a loopback port",
  ...opts,
  async fn() {
    const bin = await Deno.makeTempDir();
    const state = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${bin}/docker`, FAKE_DOCKER, { mode: 0o755 });
      const log = `${state}/docker.log`;
      const result = await probe(bin, {
        DOCKER_LOG: log,
        DOCKER_STATE: state,
        REDIS_SERVER: await redisServerPath(),
      });
      assert.equal(result.code, 0, result.stderr);
      const seen = JSON.parse(result.stdout);
      assert.deepEqual(
        { set: seen.set, get: seen.get, afterRestart: seen.afterRestart },
        { set: "OK", get: "v", afterRestart: "" },
      );
      const calls = (await Deno.readTextFile(log)).trim().split("\n");
      const verbs = calls.map((c) => c.split(" ")[0]);
      assert.deepEqual(verbs, [
        "info",
        "run",
        "pause",
        "unpause",
        "rm",
        "run",
        "unpause",
        "stop",
        "rm",
      ]);
      const run = calls[1]!;
      assert.match(run, new RegExp(`--publish 127\\.0\\.0\\.1:${seen.port}:6379 `));
      assert.ok(run.includes(` ${REDIS_IMAGE} redis-server --save  --appendonly no`), run);
      // Every container started was removed.
      const names = calls.filter((c) => c.startsWith("run ")).map((c) =>
        /--name (\S+)/.exec(c)?.[1]
      );
      const removed = calls.filter((c) => c.startsWith("rm ")).map((c) => c.split(" ").at(-1));
      assert.deepEqual(removed, names);
    } finally {
      await Deno.remove(bin, { recursive: true });
      await Deno.remove(state, { recursive: true });
    }
  },
});
