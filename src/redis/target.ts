/**
 * Where the node's Redis is: one server (`standalone`), a Redis Cluster reached through seed nodes
 * (`cluster`) or a master found through Redis Sentinel (`sentinel`), as `RATELIMITER_REDIS_MODE`,
 * `RATELIMITER_REDIS_URL` and the sentinel settings describe it.
 *
 * @module
 */
import { redactUrl } from "./redact.ts";

/** The ways of reaching Redis, as `RATELIMITER_REDIS_MODE` names them. */
export const REDIS_MODES = ["standalone", "cluster", "sentinel"] as const;

/** A value of {@linkcode REDIS_MODES}. */
export type RedisMode = typeof REDIS_MODES[number];

/** What to connect to. */
export interface RedisTarget {
  /** How the URLs are read. */
  mode: RedisMode;
  /**
   * Standalone: one URL. Cluster: seed nodes. Sentinel: the sentinels; the user name, password
   * and `rediss://` of the URLs are the data nodes' (the master and its replicas).
   */
  urls: string[];
  /** Sentinel only: the master's name the sentinels monitor. */
  sentinelMaster?: string | undefined;
  /** Sentinel only: the sentinels' own password, when they require one. */
  sentinelPassword?: string | undefined;
}

/** The parts of one Redis URL a connection needs. */
export interface RedisAddress {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** Port; 6379 when the URL names none. */
  port: number;
  /** ACL user name, if any. */
  username: string | undefined;
  /** Password, if any (a secret: never log it). */
  password: string | undefined;
  /** `rediss://`. */
  tls: boolean;
  /** The database number of the URL's path (`/2`); 0 when none. */
  database: number;
}

/** Splits a comma-separated list of URLs, dropping empty items and surrounding spaces. */
export function splitUrls(raw: string): string[] {
  return raw.split(",").map((u) => u.trim()).filter((u) => u !== "");
}

/**
 * Reads host, port, credentials, TLS and database from a `redis://` or `rediss://` URL. Throws a
 * `TypeError` naming the URL without its password for anything else.
 */
export function parseRedisUrl(url: string): RedisAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`Cannot parse the Redis URL ${JSON.stringify(redactUrl(url))}`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new TypeError(
      `Cannot use ${JSON.stringify(redactUrl(url))}: expected a redis:// or rediss:// URL`,
    );
  }
  if (parsed.hostname === "") {
    throw new TypeError(`Cannot use ${JSON.stringify(redactUrl(url))}: the URL names no host`);
  }
  const path = parsed.pathname.replace(/^\//, "");
  if (path !== "" && !/^\d{1,5}$/.test(path)) {
    throw new TypeError(
      `Cannot use ${JSON.stringify(redactUrl(url))}: expected a database number as the path`,
    );
  }
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port === "" ? 6379 : Number(parsed.port),
    username: parsed.username === "" ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === "" ? undefined : decodeURIComponent(parsed.password),
    tls: parsed.protocol === "rediss:",
    database: path === "" ? 0 : Number(path),
  };
}

/** The target for logs and errors: mode and URLs, passwords replaced by `***`. */
export function describeTarget(target: RedisTarget): string {
  const urls = target.urls.map(redactUrl).join(",");
  if (target.mode === "standalone") return urls;
  if (target.mode === "cluster") return `cluster ${urls}`;
  return `sentinel ${urls} master ${JSON.stringify(target.sentinelMaster ?? "")}`;
}
