/**
 * `rediss://` on a Redis Cluster: three masters that speak only TLS (`tls-cluster yes`, no plain
 * port), a certificate from a private CA made by the test with openssl, and a real node in cluster
 * mode given only one seed. With the CA (`DENO_CERT`) every master, the discovered ones included,
 * is reached over TLS and checks are exact; without it the node refuses the certificate, says so,
 * and answers in its failure mode. Skipped where openssl is missing.
 */
import assert from "node:assert/strict";
import { freePorts } from "../_helpers/redis_process.ts";
import { postJson, startNode } from "../_helpers/node_process.ts";
import { integration } from "../_helpers/options.ts";
import { waitFor } from "../_helpers/wait.ts";

async function run(command: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(command, {
    args,
    ...(cwd === undefined ? {} : { cwd }),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed: ${text}`);
  return text;
}

const hasOpenssl = await run("openssl", ["version"]).then(() => true, () => false);

/** A CA and a server certificate for 127.0.0.1 signed by it, in `dir`. */
async function makeCertificates(dir: string): Promise<void> {
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    "/CN=ratelimiter-test-ca",
  ], dir);
  await run("openssl", [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=127.0.0.1",
  ], dir);
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1\n");
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "1",
    "-extfile",
    "ext.cnf",
  ], dir);
}

Deno.test({
  name: "rediss:// cluster: every master reached over TLS with the CA; refused without it",
  ...integration,
  ignore: !hasOpenssl,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "rl-tls-cluster-" });
    const servers: Deno.ChildProcess[] = [];
    try {
      await makeCertificates(dir);
      const ports = freePorts(6);
      const tlsPorts = ports.slice(0, 3);
      for (const [i, port] of tlsPorts.entries()) {
        await Deno.mkdir(`${dir}/n${port}`);
        servers.push(
          new Deno.Command("redis-server", {
            args: [
              "--port",
              "0",
              "--tls-port",
              String(port),
              "--bind",
              "127.0.0.1",
              "--cluster-port",
              String(ports[3 + i]),
              "--tls-cluster",
              "yes",
              "--cluster-enabled",
              "yes",
              "--cluster-config-file",
              "nodes.conf",
              "--tls-cert-file",
              `${dir}/server.crt`,
              "--tls-key-file",
              `${dir}/server.key`,
              "--tls-ca-cert-file",
              `${dir}/ca.crt`,
              "--tls-auth-clients",
              "no",
              "--save",
              "",
              "--appendonly",
              "no",
            ],
            cwd: `${dir}/n${port}`,
            stdout: "null",
            stderr: "null",
          }).spawn(),
        );
      }
      const cli = ["--tls", "--cacert", `${dir}/ca.crt`];
      for (const port of tlsPorts) {
        await waitFor(
          `TLS redis-server on ${port}`,
          () =>
            run("redis-cli", [...cli, "-p", String(port), "PING"]).then(
              (t) => t.includes("PONG"),
              () => false,
            ),
        );
      }
      await run("redis-cli", [
        ...cli,
        "--cluster",
        "create",
        ...tlsPorts.map((p) => `127.0.0.1:${p}`),
        "--cluster-yes",
      ]);
      await waitFor(
        "cluster_state:ok",
        () =>
          run("redis-cli", [...cli, "-p", String(tlsPorts[0]), "CLUSTER", "INFO"])
            .then((t) => t.includes("cluster_state:ok"), () => false),
      );

      const env = {
        RATELIMITER_REDIS_MODE: "cluster",
        RATELIMITER_REDIS_URL: `rediss://127.0.0.1:${tlsPorts[0]}`,
      };
      await using trusted = await startNode({ env: { ...env, DENO_CERT: `${dir}/ca.crt` } });
      const keys = Array.from({ length: 24 }, (_, i) => `tls:${i}`);
      for (let round = 1; round <= 3; round++) {
        for (const key of keys) {
          const answer = await postJson(`${trusted.url}/check`, {
            key,
            limit: 2,
            window_ms: 60_000,
          });
          assert.equal(answer.status, round <= 2 ? 200 : 429, `${key} round ${round}`);
          assert.equal(answer.headers.get("x-ratelimit-degraded"), null, `${key} not degraded`);
        }
      }
      // The keys' counters were written on every master, each reached over TLS.
      for (const port of tlsPorts) {
        const size = await run("redis-cli", [...cli, "-p", String(port), "DBSIZE"]);
        assert.ok(Number(size.trim()) > 0, `master ${port} holds counters`);
      }

      await using untrusted = await startNode({ env });
      const degraded = await postJson(`${untrusted.url}/check`, { key: "tls:x" });
      assert.equal(degraded.headers.get("x-ratelimit-degraded"), "open");
      const text = JSON.stringify(untrusted.logs);
      assert.match(text, /certificate/, "the log names the certificate problem");
    } finally {
      for (const server of servers) {
        try {
          server.kill("SIGKILL");
        } catch { /* already gone */ }
        await server.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
