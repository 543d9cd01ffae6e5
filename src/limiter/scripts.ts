/**
 * Lua scripts run by the Redis store. Each script is a string constant whose header states its
 * KEYS, ARGV and reply, and the TypeScript that calls it lives in `src/store/redis_store.ts`.
 *
 * Time inside the scripts is in microseconds. The clock is Redis `TIME` (so nodes with skewed clocks
 * agree) unless the caller passes one, which only tests do.
 *
 * @module
 */

/** Shared prelude: reading the clock and the per-algorithm functions. */
const PRELUDE = `
local function read_now(arg)
  if arg ~= nil and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function ceil_ms(us)
  if us <= 0 then return 0 end
  return math.ceil(us / 1000)
end

-- Each algorithm has eval (decide without consuming; may only tidy state without changing meaning)
-- returning allowed, count, remaining, retry_after_ms, reset_after_ms; and commit (consume).

-- sliding_log: a sorted set of one member per counted unit, scored by its time in microseconds,
-- plus one metadata member '~<limit>:<window_ms>' scored +inf that records the parameters.
local function sl_eval(key, now, limit, window_ms, cost)
  local window = window_ms * 1000
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCOUNT', key, '-inf', '(+inf')
  local need = cost
  if need == 0 then need = 1 end
  local allowed = count + need <= limit
  local after = count
  if allowed and cost > 0 then after = count + cost end
  local retry = 0
  if not allowed then
    if need > limit or count == 0 then
      retry = window_ms
    else
      local e = redis.call('ZRANGE', key, count + need - limit - 1, count + need - limit - 1, 'WITHSCORES')
      retry = ceil_ms(tonumber(e[2]) + window - now)
    end
  end
  local reset = 0
  if count > 0 then
    local e = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    reset = ceil_ms(tonumber(e[2]) + window - now)
  elseif allowed and cost > 0 then
    reset = window_ms
  end
  local remaining = limit - after
  if remaining < 0 then remaining = 0 end
  return allowed, after, remaining, retry, reset
end

local function sl_commit(key, now, limit, window_ms, cost)
  local base = string.format('%.0f', now)
  local n = 0
  while redis.call('ZSCORE', key, base .. ':1') do
    n = n + 1
    base = string.format('%.0f', now) .. '.' .. n
  end
  local i = 1
  while i <= cost do
    local args = {}
    local last = math.min(cost, i + 499)
    for j = i, last do
      args[#args + 1] = now
      args[#args + 1] = base .. ':' .. j
    end
    redis.call('ZADD', key, unpack(args))
    i = last + 1
  end
  local meta = '~' .. limit .. ':' .. window_ms
  if not redis.call('ZSCORE', key, meta) then
    redis.call('ZREMRANGEBYSCORE', key, '+inf', '+inf')
    redis.call('ZADD', key, '+inf', meta)
  end
  redis.call('PEXPIRE', key, window_ms + 1)
end

-- Returns the limit and window_ms recorded by the last commit, or nil if the key holds no state.
local function sl_params(key)
  local m = redis.call('ZRANGEBYSCORE', key, '+inf', '+inf')
  if m[1] == nil then return nil end
  local limit, window_ms = string.match(m[1], '^~(%d+):(%d+)$')
  return tonumber(limit), tonumber(window_ms)
end

local ALG = {
  sl = { eval = sl_eval, commit = sl_commit, params = sl_params },
}
`;

/** Number of ARGV entries per limit in {@linkcode CHECK_SCRIPT}. */
export const CHECK_ARGS_PER_LIMIT = 4;

/**
 * Decides one or more limits atomically: every limit consumes, or none does.
 *
 * KEYS[i]: state key of limit i (i = 1..n), all in one hash slot.
 * ARGV[1]: now in microseconds, or "" to read Redis TIME.
 * ARGV[2 + (i-1)*4 .. 5 + (i-1)*4]: algorithm code, limit, window_ms, cost of limit i.
 * Returns: {all_allowed (0|1), denied_index (1-based, 0 if none),
 *           then per limit: allowed (0|1), count, remaining, retry_after_ms, reset_after_ms}.
 */
export const CHECK_SCRIPT = `${PRELUDE}
local now = read_now(ARGV[1])
local n = #KEYS
local reply = { 1, 0 }
local all = true
local denied = 0
local params = {}
for i = 1, n do
  local b = 2 + (i - 1) * 4
  local alg = ALG[ARGV[b]]
  if alg == nil then return redis.error_reply('ERR unknown algorithm ' .. tostring(ARGV[b])) end
  local limit, window_ms, cost = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  params[i] = { alg, limit, window_ms, cost }
  local allowed, count, remaining, retry, reset = alg.eval(KEYS[i], now, limit, window_ms, cost)
  if not allowed and all then
    all = false
    denied = i
  end
  reply[#reply + 1] = allowed and 1 or 0
  reply[#reply + 1] = count
  reply[#reply + 1] = remaining
  reply[#reply + 1] = retry
  reply[#reply + 1] = reset
end
if all then
  for i = 1, n do
    local p = params[i]
    if p[4] > 0 then p[1].commit(KEYS[i], now, p[2], p[3], p[4]) end
  end
else
  -- A denied check consumes nothing, so a limit that allowed on its own reports its state
  -- without this request (a cost-0 evaluation), keeping allowed = 1.
  reply[1] = 0
  reply[2] = denied
  for i = 1, n do
    local p = params[i]
    local o = 2 + (i - 1) * 5
    if reply[o + 1] == 1 and p[4] > 0 then
      local _, count, remaining, _, reset = p[1].eval(KEYS[i], now, p[2], p[3], 0)
      reply[o + 2] = count
      reply[o + 3] = remaining
      reply[o + 5] = reset
    end
  end
end
return reply
`;

/**
 * Reports the state of counters under the parameters they were last consumed with, consuming
 * nothing. Used to list counters; each key may be in a different slot, so one key per call.
 *
 * KEYS[1]: state key.
 * ARGV[1]: now in microseconds, or "" to read Redis TIME.
 * ARGV[2]: algorithm code.
 * Returns: {} when the key holds no state, else
 *          {limit, window_ms, allowed (0|1), count, remaining, retry_after_ms, reset_after_ms}.
 */
export const PEEK_SCRIPT = `${PRELUDE}
local alg = ALG[ARGV[2]]
if alg == nil then return redis.error_reply('ERR unknown algorithm ' .. tostring(ARGV[2])) end
local limit, window_ms = alg.params(KEYS[1])
if limit == nil then return {} end
local allowed, count, remaining, retry, reset = alg.eval(KEYS[1], read_now(ARGV[1]), limit, window_ms, 0)
return { limit, window_ms, allowed and 1 or 0, count, remaining, retry, reset }
`;
