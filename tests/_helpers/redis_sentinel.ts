/**
 * A real Redis Sentinel setup on loopback for tests: a master, its replicas and three sentinels
 * (`redis-server sentinel.conf --sentinel`, quorum 2, short down-after and failover timeouts), on
 * free ports in a temporary directory, with the faults the sentinel tests need (`SENTINEL
 * FAILOVER`, kill -9 of the master, every sentinel restarted). Every process is stopped by PID.
 *
 *   await using sentinel = await startRedisSentinel();
 *   startNode({ env: {
 *     RATELIMITER_REDIS_MODE: "sentinel",
 *     RATELIMITER_REDIS_URL: sentinel.sentinelUrls,
 *     RATELIMITER_REDIS_SENTINEL_MASTER: sentinel.masterName,
 *   } });
 *
 * @module
 */
import {
  freePorts,
  infoValue,
  type RedisProcess,
  retrying,
  spawnRedisProcess,
} from "./redis_process.ts";
import { waitFor } from "./wait.ts";

/** Options for {@linkcode startRedisSentinel}. */
export interface RedisSentinelOptions {
  /** The name the sentinels monitor the master under. @default {"rlmaster"} */
  masterName?: string;
  /** Number of replicas of the master. @default {1} */
  replicas?: number;
  /** Number of sentinels; the quorum is a majority of them. @default {3} */
  sentinels?: number;
  /** `down-after-milliseconds`: how long the master may not answer before it is down. @default {1000} */
  downAfterMs?: number;
  /** `failover-timeout` in ms. @default {3000} */
  failoverTimeoutMs?: number;
}

/** A running sentinel setup started by {@linkcode startRedisSentinel}. */
export interface TestRedisSentinel {
  /** The name the sentinels monitor the master under. */
  readonly masterName: string;
  /** The data nodes: the first master first, then its replicas (roles change with failovers). */
  readonly dataNodes: readonly RedisProcess[];
  /** The sentinels. */
  readonly sentinels: readonly RedisProcess[];
  /** The sentinels' URLs, comma-separated: a value for `RATELIMITER_REDIS_URL` in sentinel mode. */
  readonly sentinelUrls: string;
  /** The temporary directory holding every file. */
  readonly dir: string;
  /** The environment of a service node on this setup: sentinel mode, the sentinels, the name. */
  readonly nodeEnv: Readonly<Record<string, string>>;
  /** The data node the sentinels name as master now (asks the first running sentinel). */
  master(): Promise<RedisProcess>;
  /**
   * `SENTINEL FAILOVER <master>` (no agreement needed), then waits until every running sentinel
   * names a new master that reports `role:master`; returns it.
   */
  failover(timeoutMs?: number): Promise<RedisProcess>;
  /**
   * `kill -9` of the current master, then waits until every running sentinel names a replica as
   * the new master and it reports `role:master`; returns it. The killed process stays down until
   * `restart()`ed (the sentinels then turn it into a replica).
   */
  killMaster(timeoutMs?: number): Promise<{ killed: RedisProcess; promoted: RedisProcess }>;
  /** Kills every sentinel (SIGKILL) and starts them again on their ports with their config files. */
  restartSentinels(): Promise<void>;
  /**
   * Waits until every running sentinel names the same master, sees every other running sentinel
   * and every running replica, and each running replica's link to that master is up.
   */
  waitForAgreement(timeoutMs?: number): Promise<RedisProcess>;
  /** Stops every process (SIGTERM, then SIGKILL) and removes the directory. */
  stop(): Promise<void>;
  /** The same as {@linkcode TestRedisSentinel.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** A `SENTINEL MASTER` / `SENTINEL REPLICAS` reply (alternating names and values) as a record. */
function fieldsOf(text: string): Record<string, string> {
  const lines = text.split("\n");
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) record[lines[i]!] = lines[i + 1]!;
  return record;
}

/**
 * Starts a master on a free loopback port, `replicas` replicas of it and `sentinels` sentinels
 * monitoring it (quorum: a majority), and waits until the sentinels have found each other and the
 * replicas.
 */
export async function startRedisSentinel(
  options: RedisSentinelOptions = {},
): Promise<TestRedisSentinel> {
  const masterName = options.masterName ?? "rlmaster";
  const replicaCount = options.replicas ?? 1;
  const sentinelCount = options.sentinels ?? 3;
  const quorum = Math.floor(sentinelCount / 2) + 1;
  const dir = await Deno.makeTempDir({ prefix: "rl-sentinel-" });
  const ports = freePorts(1 + replicaCount + sentinelCount);
  const dataNodes: RedisProcess[] = [];
  const sentinels: RedisProcess[] = [];
  const stopAll = async () => {
    await Promise.all([...sentinels, ...dataNodes].map((n) => n.stop().catch(() => {})));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const masterPort = ports[0]!;
  try {
    // Replicas may serve stale reads but the service never reads from them; they must accept the
    // sentinels' REPLICAOF after a failover, which needs nothing special.
    dataNodes.push(await spawnRedisProcess({ port: masterPort, dir }));
    for (let i = 1; i <= replicaCount; i++) {
      dataNodes.push(
        await spawnRedisProcess({
          port: ports[i]!,
          dir,
          args: ["--replicaof", "127.0.0.1", String(masterPort)],
        }),
      );
    }
    for (let i = 0; i < sentinelCount; i++) {
      const port = ports[1 + replicaCount + i]!;
      sentinels.push(
        await spawnRedisProcess({
          port,
          dir,
          configFile: {
            name: `sentinel-${port}.conf`,
            text: [
              `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} ${quorum}`,
              `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1000}`,
              `sentinel failover-timeout ${masterName} ${options.failoverTimeoutMs ?? 3000}`,
              `sentinel parallel-syncs ${masterName} 1`,
              "",
            ].join("\n"),
          },
          args: ["--sentinel"],
        }),
      );
    }
  } catch (error) {
    await stopAll();
    throw error;
  }

  const running = <T extends RedisProcess>(list: readonly T[]) => list.filter((n) => n.running);
  const byPort = (port: number) => {
    const node = dataNodes.find((n) => n.port === port);
    if (node === undefined) throw new Error(`No data node of this setup listens on ${port}`);
    return node;
  };
  const namedBy = async (sentinel: RedisProcess): Promise<number> => {
    const reply = await sentinel.cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName);
    return Number(reply.split("\n")[1]);
  };

  const setup: TestRedisSentinel = {
    masterName,
    dataNodes,
    sentinels,
    sentinelUrls: sentinels.map((s) => s.url).join(","),
    dir,
    nodeEnv: {
      RATELIMITER_REDIS_MODE: "sentinel",
      RATELIMITER_REDIS_URL: sentinels.map((s) => s.url).join(","),
      RATELIMITER_REDIS_SENTINEL_MASTER: masterName,
    },
    async master() {
      const first = running(sentinels)[0];
      if (first === undefined) throw new Error("No sentinel is running");
      return byPort(await namedBy(first));
    },
    async failover(timeoutMs = 30_000) {
      const old = await setup.waitForAgreement(timeoutMs);
      const first = running(sentinels)[0]!;
      const reply = await first.cli("SENTINEL", "FAILOVER", masterName);
      if (reply !== "OK") throw new Error(`SENTINEL FAILOVER answered ${reply}`);
      return await waitForNewMaster(old, timeoutMs);
    },
    async killMaster(timeoutMs = 30_000) {
      const killed = await setup.waitForAgreement(timeoutMs);
      await killed.kill();
      return { killed, promoted: await waitForNewMaster(killed, timeoutMs) };
    },
    async restartSentinels() {
      await Promise.all(sentinels.map((s) => s.kill()));
      for (const s of sentinels) await s.restart();
    },
    async waitForAgreement(timeoutMs = 30_000) {
      let master: RedisProcess | undefined;
      let last = "";
      try {
        await waitFor(
          "the sentinels to agree",
          retrying(async () => {
            const live = running(sentinels);
            let port: number | undefined;
            for (const s of live) {
              const named = await namedBy(s);
              if (port !== undefined && named !== port) {
                last = `sentinels name ${port} and ${named}`;
                return false;
              }
              port = named;
              const fields = fieldsOf(await s.cli("SENTINEL", "MASTER", masterName));
              const replicas = running(dataNodes).length - 1;
              if (Number(fields["num-other-sentinels"]) < live.length - 1) {
                last = `${s.address} sees ${fields["num-other-sentinels"]} other sentinels`;
                return false;
              }
              if (fields.flags !== "master") {
                last = `${s.address} flags the master ${fields.flags}`;
                return false;
              }
              const seen = (await s.cli("SENTINEL", "REPLICAS", masterName))
                .split("\n").filter((line) => line === "flags").length;
              const healthy = (await s.cli("SENTINEL", "REPLICAS", masterName))
                .split("\n").filter((line) => line === "slave").length;
              if (seen < replicas || healthy < replicas) {
                last = `${s.address} sees ${healthy} healthy of ${replicas} running replicas`;
                return false;
              }
            }
            if (port === undefined) throw new Error("No sentinel is running");
            master = byPort(port);
            if (!master.running) {
              last = `the named master ${port} is down`;
              return false;
            }
            if (infoValue(await master.cli("INFO", "replication"), "role") !== "master") {
              last = `the named master ${port} is not role:master yet`;
              return false;
            }
            for (const replica of running(dataNodes)) {
              if (replica === master) continue;
              const info = await replica.cli("INFO", "replication");
              if (
                infoValue(info, "master_port") !== String(port) ||
                infoValue(info, "master_link_status") !== "up"
              ) {
                last = `${replica.address} is not linked to ${port} yet`;
                return false;
              }
            }
            return true;
          }, (error) => last = error),
          timeoutMs,
          50,
        );
      } catch (error) {
        throw new Error(`${(error as Error).message} (last: ${last})`);
      }
      return master!;
    },
    stop: stopAll,
    [Symbol.asyncDispose]: stopAll,
  };

  /** Waits until the running sentinels all name a master other than `old`, and it is master. */
  async function waitForNewMaster(old: RedisProcess, timeoutMs: number): Promise<RedisProcess> {
    let master: RedisProcess | undefined;
    await waitFor(
      `the sentinels to move the master off ${old.address}`,
      retrying(async () => {
        const named = await Promise.all(running(sentinels).map(namedBy));
        if (named.length === 0 || named.some((p) => p !== named[0] || p === old.port)) return false;
        master = byPort(named[0]!);
        return master.running &&
          infoValue(await master.cli("INFO", "replication"), "role") === "master";
      }),
      timeoutMs,
      50,
    );
    return master!;
  }

  try {
    await setup.waitForAgreement();
  } catch (error) {
    await stopAll();
    throw error;
  }
  return setup;
}
