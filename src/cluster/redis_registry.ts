/**
 * The Redis side of the node registry: one hash `<prefix>:nodes` (field = node id, value = the
 * node's JSON record), changed only by the Lua scripts below so that "is this id held by a live
 * node?" and "write my record" happen atomically. One key keeps the registry in one Redis Cluster
 * slot, and it expires 10 × TTL after the last heartbeat of any node.
 *
 * @module
 */
import type { WallClock } from "../clock.ts";
import type { RedisReply } from "../redis/call.ts";
import { RedisScript } from "../redis/script.ts";
import type { RedisClient } from "../redis/connection.ts";
import { DEFAULT_KEY_PREFIX, nodesKey } from "../store/keys.ts";
import type {
  NodeRecord,
  RegisterResult,
  RegistrationRequest,
  Registry,
  RegistrySnapshot,
  RegistryTiming,
} from "./registry.ts";

const PRELUDE = `
local function read_now(arg)
  if arg ~= nil and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function decode(raw)
  local ok, record = pcall(cjson.decode, raw)
  if ok and type(record) == 'table' then return record end
  return nil
end

-- Age of a stored record in ms; unreadable records count as ancient so they get dropped.
local function age(raw, now, keep)
  local record = decode(raw)
  if record == nil then return keep end
  return now - (tonumber(record.last_heartbeat_at) or 0)
end
`;

/**
 * Registers or refreshes a node.
 *
 * KEYS[1]: the nodes hash.
 * ARGV: now_ms (or "" for Redis TIME), id, instance, address, version, registered_at_ms (or ""),
 *       ttl_ms, keep_ms.
 * Returns: {0, now, holder_json} when another instance with a heartbeat younger than ttl holds the
 *          id; else {1, now, record_json, up_count} after writing the record, dropping records
 *          older than keep_ms and counting those younger than ttl_ms.
 */
export const REGISTER_SCRIPT = `#!lua${PRELUDE}
local now = read_now(ARGV[1])
local id, instance = ARGV[2], ARGV[3]
local ttl, keep = tonumber(ARGV[7]), tonumber(ARGV[8])
local current = redis.call('HGET', KEYS[1], id)
if current then
  local holder = decode(current)
  if holder ~= nil and holder.instance ~= instance and age(current, now, keep) < ttl then
    return { 0, now, current }
  end
end
local registered = tonumber(ARGV[6]) or now
local record = '{"id":' .. cjson.encode(id) .. ',"address":' .. cjson.encode(ARGV[4]) ..
  ',"version":' .. cjson.encode(ARGV[5]) .. ',"instance":' .. cjson.encode(instance) ..
  ',"registered_at":' .. string.format('%.0f', registered) ..
  ',"last_heartbeat_at":' .. string.format('%.0f', now) .. '}'
redis.call('HSET', KEYS[1], id, record)
local all = redis.call('HGETALL', KEYS[1])
local up = 0
for i = 1, #all, 2 do
  local a = age(all[i + 1], now, keep)
  if a >= keep then
    redis.call('HDEL', KEYS[1], all[i])
  elseif a < ttl then
    up = up + 1
  end
end
redis.call('PEXPIRE', KEYS[1], keep)
return { 1, now, record, up }
`;

/**
 * Removes a node's record if the given instance holds it.
 *
 * KEYS[1]: the nodes hash. ARGV[1]: id. ARGV[2]: instance.
 * Returns: 1 if removed, else 0.
 */
export const DEREGISTER_SCRIPT = `#!lua flags=allow-oom${PRELUDE}
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
local record = decode(current)
if record == nil or record.instance ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`;

/**
 * Lists node records, dropping those older than keep_ms.
 *
 * KEYS[1]: the nodes hash. ARGV[1]: now_ms (or ""). ARGV[2]: keep_ms.
 * Returns: {now, record_json...}.
 */
export const LIST_SCRIPT = `#!lua flags=allow-oom${PRELUDE}
local now = read_now(ARGV[1])
local keep = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local reply = { now }
for i = 1, #all, 2 do
  if age(all[i + 1], now, keep) >= keep then
    redis.call('HDEL', KEYS[1], all[i])
  else
    reply[#reply + 1] = all[i + 1]
  end
end
return reply
`;

/** Parses a stored record; `undefined` for anything unreadable. */
export function parseNodeRecord(raw: string): NodeRecord | undefined {
  try {
    const r = JSON.parse(raw);
    if (
      typeof r?.id !== "string" || typeof r.address !== "string" ||
      typeof r.instance !== "string" || typeof r.registered_at !== "number" ||
      typeof r.last_heartbeat_at !== "number"
    ) {
      return undefined;
    }
    return {
      id: r.id,
      address: r.address,
      version: typeof r.version === "string" ? r.version : "",
      instance: r.instance,
      registeredAt: r.registered_at,
      lastHeartbeatAt: r.last_heartbeat_at,
    };
  } catch {
    return undefined;
  }
}

/** Options for {@linkcode RedisRegistry}. */
export interface RedisRegistryOptions {
  /** A connected client; never closed here. */
  client: RedisClient;
  /** Prefix of every key. @default {DEFAULT_KEY_PREFIX} */
  prefix?: string;
  /** Deadline of each call in milliseconds. @default {2000} */
  timeoutMs?: number;
  /** Clock passed to the scripts; leave unset to use Redis `TIME` (tests set it). */
  clock?: WallClock;
}

/** Node records in Redis, shared by the cluster. */
export class RedisRegistry implements Registry {
  readonly kind = "redis" as const;
  readonly #client: RedisClient;
  readonly #key: string;
  readonly #timeoutMs: number;
  readonly #clock: WallClock | undefined;
  readonly #register = new RedisScript(REGISTER_SCRIPT);
  readonly #deregister = new RedisScript(DEREGISTER_SCRIPT);
  readonly #list = new RedisScript(LIST_SCRIPT);

  constructor(options: RedisRegistryOptions) {
    this.#client = options.client;
    this.#key = nodesKey(options.prefix ?? DEFAULT_KEY_PREFIX);
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#clock = options.clock;
  }

  #now(): string {
    return this.#clock === undefined ? "" : String(Math.round(this.#clock()));
  }

  async register(request: RegistrationRequest, timing: RegistryTiming): Promise<RegisterResult> {
    const reply = await this.#register.run<RedisReply[]>(this.#client, [this.#key], [
      this.#now(),
      request.id,
      request.instance,
      request.address,
      request.version,
      request.registeredAt === undefined ? "" : String(request.registeredAt),
      String(timing.ttlMs),
      String(timing.keepMs),
    ], this.#timeoutMs);
    const now = Number(reply[1]);
    const record = parseNodeRecord(String(reply[2]));
    if (record === undefined) throw new Error("Unreadable node record in the registry reply");
    if (reply[0] === 0) return { ok: false, holder: record, now };
    return { ok: true, record, upCount: Number(reply[3]) };
  }

  async deregister(id: string, instance: string): Promise<boolean> {
    const removed = await this.#deregister.run<number>(
      this.#client,
      [this.#key],
      [id, instance],
      this.#timeoutMs,
    );
    return removed === 1;
  }

  async list(timing: RegistryTiming): Promise<RegistrySnapshot> {
    const reply = await this.#list.run<RedisReply[]>(
      this.#client,
      [this.#key],
      [this.#now(), String(timing.keepMs)],
      this.#timeoutMs,
    );
    const records: NodeRecord[] = [];
    for (const raw of reply.slice(1)) {
      const record = parseNodeRecord(String(raw));
      if (record !== undefined) records.push(record);
    }
    return { now: Number(reply[0]), records };
  }
}
