/**
 * A real Redis Cluster on loopback for tests and benchmarks: `redis-server --cluster-enabled yes`
 * processes on free ports in a temporary directory, joined by `redis-cli --cluster create`, with
 * the faults the failover and resharding tests need (kill -9 of a master, waiting for its replica's
 * promotion, slots migrated by `redis-cli --cluster reshard`). Every process is stopped by PID.
 *
 *   await using cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
 *   startNode({ env: { RATELIMITER_REDIS_MODE: "cluster", RATELIMITER_REDIS_URL: cluster.seedUrls } });
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

/** Number of hash slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

/** Options for {@linkcode startRedisCluster}. */
export interface RedisClusterOptions {
  /**
   * Number of masters. From 3 the cluster is made by `redis-cli --cluster create`; 1 or 2 masters
   * (which redis-cli refuses; benchmarks compare them) are joined by hand with `CLUSTER MEET` and
   * `CLUSTER ADDSLOTSRANGE`, without replicas. @default {3}
   */
  masters?: number;
  /** Replicas per master. @default {0} */
  replicasPerMaster?: number;
  /**
   * `cluster-node-timeout` in ms: how long a master may be unreachable before it is flagged
   * failing and its replica takes over. @default {1000}
   */
  nodeTimeoutMs?: number;
  /**
   * `cluster-require-full-coverage`: `false` keeps the slots of the live masters serving while a
   * master is down (what the failover test needs and the compose profile sets); `true` is Redis's
   * default (every slot answers CLUSTERDOWN until all are covered). @default {false}
   */
  requireFullCoverage?: boolean;
  /**
   * `requirepass` and `masterauth` of every node (the `default` user's password): the seed URLs
   * and {@linkcode TestRedisCluster.nodeEnv} carry it, and so do the harness's own commands.
   * @default {none}
   */
  password?: string;
  /** More `redis-server` arguments for every node (e.g. `["--maxmemory", "64mb"]`). */
  args?: string[];
}

/** One node as a live member reports it in `CLUSTER NODES`. */
export interface ClusterNodeView {
  /** The 40-character node id. */
  readonly id: string;
  /** Its client port on 127.0.0.1. */
  readonly port: number;
  /** Its role now. */
  readonly role: "master" | "replica";
  /** The id of its master, for a replica. */
  readonly masterId: string | undefined;
  /** Flagged `fail` or `fail?` (unreachable). */
  readonly failing: boolean;
  /** Slot ranges it serves, inclusive. */
  readonly slots: readonly (readonly [number, number])[];
  /** Whether a slot of it is being migrated or imported. */
  readonly migrating: boolean;
}

/** A running Redis Cluster started by {@linkcode startRedisCluster}. */
export interface TestRedisCluster {
  /** Every process, masters first as created, then replicas. */
  readonly nodes: readonly RedisProcess[];
  /** Every node's URL, comma-separated: a value for `RATELIMITER_REDIS_URL` in cluster mode. */
  readonly seedUrls: string;
  /** The temporary directory holding the nodes' files. */
  readonly dir: string;
  /** The environment of a service node on this cluster: cluster mode, every node a seed. */
  readonly nodeEnv: Readonly<Record<string, string>>;
  /** The node id of a process (fixed at creation; it survives restarts). */
  idOf(node: RedisProcess): string;
  /** The process with node id `id`. */
  byId(id: string): RedisProcess;
  /** The cluster as the first running node sees it. */
  view(): Promise<ClusterNodeView[]>;
  /** The running masters that serve slots, by first slot. */
  masters(): Promise<RedisProcess[]>;
  /** The replicas currently attached to `master`. */
  replicasOf(master: RedisProcess): Promise<RedisProcess[]>;
  /** The node serving hash slot `slot`. */
  ownerOfSlot(slot: number): Promise<RedisProcess>;
  /** Slot ranges `node` serves. */
  slotsOf(node: RedisProcess): Promise<(readonly [number, number])[]>;
  /** `kill -9` of a master; resolves once the process is gone. Throws if `node` is no master. */
  killMaster(node: RedisProcess): Promise<void>;
  /**
   * Waits until a replica of the killed master `dead` serves all of its former slots and every
   * running node reports `cluster_state:ok` and agrees on the slot map; returns the new master.
   */
  waitForPromotion(dead: RedisProcess, timeoutMs?: number): Promise<RedisProcess>;
  /**
   * Moves `slots` slots from master `from` to master `to` with `redis-cli --cluster reshard`
   * (keys migrated with MIGRATE while clients keep working; the lowest slots of `from` move
   * first), then waits until every node agrees.
   */
  reshard(from: RedisProcess, to: RedisProcess, slots: number): Promise<void>;
  /**
   * Waits until every running node reports `cluster_state:ok`, knows the others, sees the same
   * slot owners, no slot is mid-migration and every replica's link to its master is up.
   */
  waitForAgreement(timeoutMs?: number): Promise<void>;
  /** Stops every node (SIGTERM, then SIGKILL) and removes the directory. */
  stop(): Promise<void>;
  /** The same as {@linkcode TestRedisCluster.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The CRC16 (XMODEM) table Redis Cluster hashes keys with. */
const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    }
    table[i] = crc & 0xffff;
  }
  return table;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/**
 * The hash slot of Redis key `key`, as `CLUSTER KEYSLOT` computes it: CRC16 of the first
 * non-empty `{…}` tag if there is one, else of the whole key, modulo 16384.
 */
export function keySlot(key: string): number {
  const bytes = new TextEncoder().encode(key);
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % CLUSTER_SLOTS;
  }
  return crc16(bytes) % CLUSTER_SLOTS;
}

/** Parses `CLUSTER NODES`. */
export function parseClusterNodes(text: string): ClusterNodeView[] {
  const views: ClusterNodeView[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(" ");
    if (fields.length < 8) continue;
    const [id, address, flagText, master] = fields as [string, string, string, string];
    const flags = flagText.split(",");
    const port = Number(/:(\d+)@/.exec(address)?.[1] ?? /:(\d+)$/.exec(address)?.[1]);
    const slots: [number, number][] = [];
    let migrating = false;
    for (const slot of fields.slice(8)) {
      if (slot.startsWith("[")) {
        migrating = true;
        continue;
      }
      const [lo, hi] = slot.split("-").map(Number) as [number, number | undefined];
      slots.push([lo, hi ?? lo]);
    }
    views.push({
      id,
      port,
      role: flags.includes("master") ? "master" : "replica",
      masterId: master === "-" ? undefined : master,
      failing: flags.includes("fail") || flags.includes("fail?"),
      slots,
      migrating,
    });
  }
  return views;
}

function slotKey(slots: readonly (readonly [number, number])[]): string {
  return slots.map(([lo, hi]) => `${lo}-${hi}`).sort().join(",");
}

async function runRedisCli(args: string[], timeoutMs: number): Promise<string> {
  const child = new Deno.Command("redis-cli", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, timeoutMs);
  try {
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    if (!out.success) {
      throw new Error(
        `redis-cli ${args.join(" ")} failed (exit ${out.code}): ${text.slice(-2000)}`,
      );
    }
    return text;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts `masters × (1 + replicasPerMaster)` cluster nodes on free loopback ports (each with its
 * own bus port), creates the cluster with `redis-cli --cluster create --cluster-replicas N
 * --cluster-yes` and waits until every node agrees and reports `cluster_state:ok`.
 */
export async function startRedisCluster(
  options: RedisClusterOptions = {},
): Promise<TestRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  if (!Number.isInteger(masters) || masters < 1) {
    throw new RangeError(`Cannot start a cluster of ${masters} masters: expected at least 1`);
  }
  if (!Number.isInteger(replicas) || replicas < 0 || (masters < 3 && replicas > 0)) {
    throw new RangeError(
      `Cannot start ${replicas} replicas per master: expected 0 or more, and 0 below 3 masters`,
    );
  }
  const total = masters * (1 + replicas);
  const dir = await Deno.makeTempDir({ prefix: "rl-cluster-" });
  const ports = freePorts(total * 2);
  const nodes: RedisProcess[] = [];
  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    for (let i = 0; i < total; i++) {
      const port = ports[i]!;
      nodes.push(
        await spawnRedisProcess({
          port,
          dir,
          ...(options.password === undefined ? {} : { password: options.password }),
          args: [
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            String(ports[total + i]),
            "--cluster-config-file",
            `nodes-${port}.conf`,
            "--cluster-node-timeout",
            String(options.nodeTimeoutMs ?? 1000),
            "--cluster-require-full-coverage",
            options.requireFullCoverage ? "yes" : "no",
            // A replica takes over however long it has been cut off from its master.
            "--cluster-replica-validity-factor",
            "0",
            "--enable-debug-command",
            "local",
            ...(options.args ?? []),
          ],
        }),
      );
    }
    if (masters >= 3) {
      await runRedisCli([
        "--cluster",
        "create",
        ...nodes.map((n) => n.address),
        ...(options.password === undefined ? [] : ["-a", options.password, "--no-auth-warning"]),
        "--cluster-replicas",
        String(replicas),
        "--cluster-yes",
      ], 60_000);
    } else {
      for (const [i, node] of nodes.entries()) {
        const lo = Math.floor((CLUSTER_SLOTS * i) / masters);
        const hi = Math.floor((CLUSTER_SLOTS * (i + 1)) / masters) - 1;
        await node.cli("CLUSTER", "ADDSLOTSRANGE", String(lo), String(hi));
        if (i > 0) {
          await node.cli(
            "CLUSTER",
            "MEET",
            "127.0.0.1",
            String(nodes[0]!.port),
            String(ports[total]),
          );
        }
      }
    }
  } catch (error) {
    await stopAll();
    throw error;
  }

  const ids = new Map<string, RedisProcess>();
  const idByPort = new Map<number, string>();
  for (const node of nodes) {
    const id = await node.cli("CLUSTER", "MYID");
    ids.set(id, node);
    idByPort.set(node.port, id);
  }
  const byPort = (port: number) => {
    const node = nodes.find((n) => n.port === port);
    if (node === undefined) throw new Error(`No node of this cluster listens on ${port}`);
    return node;
  };
  const running = () => nodes.filter((n) => n.running);
  const viewFrom = async (node: RedisProcess) =>
    parseClusterNodes(await node.cli("CLUSTER", "NODES"));

  const auth = options.password === undefined ? "" : `:${encodeURIComponent(options.password)}@`;
  const seedUrls = nodes.map((n) => `redis://${auth}${n.address}`).join(",");
  const cluster: TestRedisCluster = {
    nodes,
    seedUrls,
    dir,
    nodeEnv: { RATELIMITER_REDIS_MODE: "cluster", RATELIMITER_REDIS_URL: seedUrls },
    idOf(node) {
      const id = idByPort.get(node.port);
      if (id === undefined) throw new Error(`No node of this cluster listens on ${node.port}`);
      return id;
    },
    byId(id) {
      const node = ids.get(id);
      if (node === undefined) throw new Error(`No node of this cluster has id ${id}`);
      return node;
    },
    async view() {
      const first = running()[0];
      if (first === undefined) throw new Error("No node of the cluster is running");
      return await viewFrom(first);
    },
    async masters() {
      const views = (await cluster.view())
        .filter((v) => v.role === "master" && !v.failing && v.slots.length > 0)
        .sort((a, b) => a.slots[0]![0] - b.slots[0]![0]);
      return views.map((v) => byPort(v.port)).filter((n) => n.running);
    },
    async replicasOf(master) {
      const id = cluster.idOf(master);
      return (await cluster.view())
        .filter((v) => v.masterId === id && !v.failing)
        .map((v) => byPort(v.port));
    },
    async ownerOfSlot(slot) {
      for (const v of await cluster.view()) {
        if (v.role === "master" && v.slots.some(([lo, hi]) => slot >= lo && slot <= hi)) {
          return byPort(v.port);
        }
      }
      throw new Error(`No node serves slot ${slot}`);
    },
    async slotsOf(node) {
      const id = cluster.idOf(node);
      return [...((await cluster.view()).find((v) => v.id === id)?.slots ?? [])];
    },
    async killMaster(node) {
      const id = cluster.idOf(node);
      const view = (await viewFrom(node)).find((v) => v.id === id);
      if (view?.role !== "master") {
        throw new Error(
          `Cannot kill ${node.address} as a master: it is a ${view?.role ?? "stranger"}`,
        );
      }
      await node.kill();
    },
    async waitForPromotion(dead, timeoutMs = 30_000) {
      const deadId = cluster.idOf(dead);
      // The dead master's slots and replicas as the survivors last saw them.
      const before = await cluster.view();
      const slots = slotKey(before.find((v) => v.id === deadId)?.slots ?? []);
      const formerReplicas = new Set(before.filter((v) => v.masterId === deadId).map((v) => v.id));
      let promoted: RedisProcess | undefined;
      await waitFor(
        `a replica of ${dead.address} to take over its slots ${slots}`,
        retrying(async () => {
          const views = await cluster.view();
          const heir = views.find((v) =>
            v.role === "master" && !v.failing && slotKey(v.slots) === slots &&
            (formerReplicas.size === 0 || formerReplicas.has(v.id))
          );
          if (heir === undefined || heir.id === deadId) return false;
          promoted = byPort(heir.port);
          return true;
        }),
        timeoutMs,
        50,
      );
      await cluster.waitForAgreement(timeoutMs);
      return promoted!;
    },
    async reshard(from, to, slots) {
      await runRedisCli([
        ...(options.password === undefined ? [] : ["-a", options.password, "--no-auth-warning"]),
        "--cluster",
        "reshard",
        from.address,
        "--cluster-from",
        cluster.idOf(from),
        "--cluster-to",
        cluster.idOf(to),
        "--cluster-slots",
        String(slots),
        "--cluster-yes",
      ], 60_000);
      await cluster.waitForAgreement();
    },
    async waitForAgreement(timeoutMs = 30_000) {
      let last = "";
      try {
        await waitFor(
          "every cluster node to agree",
          retrying(async () => {
            const live = running();
            let map: string | undefined;
            for (const node of live) {
              const info = await node.cli("CLUSTER", "INFO");
              if (infoValue(info, "cluster_state") !== "ok") {
                last = `${node.address}: cluster_state ${infoValue(info, "cluster_state")}`;
                return false;
              }
              const views = await viewFrom(node);
              const owners = views
                .filter((v) => v.role === "master" && v.slots.length > 0)
                .map((v) => `${v.id}:${slotKey(v.slots)}`)
                .sort()
                .join(" ");
              const known = views.filter((v) => !v.failing).length;
              if (known < live.length) {
                last = `${node.address} sees ${known} of ${live.length} running nodes`;
                return false;
              }
              if (views.some((v) => v.migrating)) {
                last = `${node.address} has a slot mid-migration`;
                return false;
              }
              if (map !== undefined && owners !== map) {
                last = `${node.address} disagrees on slot owners`;
                return false;
              }
              map = owners;
              const me = views.find((v) => v.port === node.port);
              if (me?.role === "replica") {
                const link = infoValue(await node.cli("INFO", "replication"), "master_link_status");
                if (link !== "up") {
                  last = `${node.address}: replica link ${link}`;
                  return false;
                }
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
    },
    stop: stopAll,
    [Symbol.asyncDispose]: stopAll,
  };
  try {
    await cluster.waitForAgreement();
  } catch (error) {
    await stopAll();
    throw error;
  }
  return cluster;
}
