/**
 * Lua scripts run by the Redis store. Each script is a string constant whose header states its
 * KEYS, ARGV and reply, and the TypeScript that calls it lives in `src/store/redis_store.ts`.
 *
 * Time inside the scripts is in microseconds. The clock is Redis `TIME` (so nodes with skewed clocks
 * agree) unless the caller passes one, which only tests do.
 *
 * Every script starts with a Redis 7 shebang so that Redis knows before running it whether it may
 * write: a script that may write (`#!lua`) is refused as a whole under `maxmemory` (OOM) instead
 * of failing, or worse succeeding, at its first write; a read-only one (`#!lua flags=no-writes`)
 * still runs then, and Redis itself refuses any write it would attempt.
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

-- Units a request must fit: its cost, or 1 for a peek (cost 0 asks "would one more fit?").
local function units_needed(cost)
  if cost == 0 then return 1 end
  return cost
end

local function ceil_ms(us)
  if us <= 0 then return 0 end
  return math.ceil(us / 1000)
end

-- Numbers become strings without tostring's 14-digit rounding (every stored value is integral).
-- '%d' prints an integral value exactly as '%.0f' does, at half the cost.
local function fmt(n)
  if n == math.floor(n) and n > -9007199254740992 and n < 9007199254740992 then
    return string.format('%d', n)
  end
  return string.format('%.0f', n)
end

-- fmt with a memory of the last value per slot: the checks of one batch run share their time and,
-- mostly, their TTL, which are then formatted once.
local memo_n, memo_s = {}, {}
local function fmt_memo(slot, n)
  if memo_n[slot] ~= n then
    memo_n[slot] = n
    memo_s[slot] = fmt(n)
  end
  return memo_s[slot]
end

-- Each algorithm has eval (decide without consuming; never writes, so a peek changes nothing)
-- returning allowed, count, remaining, retry_after_ms, reset_after_ms; commit (consume); and params
-- (the limit, window_ms and extra parameter recorded by the last commit, or nil). Both eval and
-- commit take (key, now_us, limit, window_ms, cost, param); param is gcra's burst or
-- token_bucket's refill rate. An eval may return a sixth value, what it read of the key, which
-- the commit right after it receives as its seventh argument; the eighth is the index in ARGV of
-- the limit's five arguments. Each mirrors
-- src/limiter/<algorithm>.ts operation for operation.

-- Builders of each algorithm's functions, by algorithm code (see ALG below).
local ALG_BUILD = {}

-- sliding_log: a sorted set of one entry per committed request, whatever its cost, plus one
-- metadata member '~<limit>:<window_ms>' scored +inf that records the parameters. An entry is
-- scored by its time in us, never below the newest entry's score, so score order is commit order;
-- its member is '<cum>:<cost>', cum being the units committed to the key up to and including this
-- entry, modulo SL_MOD and zero-padded so that entries tied on score also sort in commit order.
-- The units counted now are then cum(newest) - (cum(oldest live) - cost(oldest live)), found
-- in O(log N) without walking the entries. Only commit writes: it adds one entry and removes at
-- most SL_PRUNE expired ones, so no call does work in proportion to a cost, a limit or a backlog.
-- eval reads the oldest entry, the newest one and the metadata member by rank (two lookups when
-- nothing has expired, the common case) and hands them to commit, which then writes with a ZADD
-- and a PEXPIRE only, the metadata and the pruning of expired entries only when needed.
ALG_BUILD.sl = function()
  local SL_MOD = 1e15
  local SL_PRUNE = 128
  local SL_MEMBER = '^(' .. string.rep('%d', 15) .. '):(%d+)$'

  -- cum and cost of an entry's member; nil for a member written by a release that stored one
  -- member per unit ('<time>:<n>'), whose key is then read as empty and replaced on commit.
  local function sl_member(m)
    local cum, cost = string.match(m, SL_MEMBER)
    return tonumber(cum), tonumber(cost)
  end

  -- What eval learns of a key and commit reuses: the oldest entry's member and score (nil when
  -- the key holds no entry), whether it has expired, the newest entry's score and cum (cum nil for
  -- a member of an earlier release) and the metadata member (nil when absent). The metadata
  -- member is the only one starting with '~', and the last by rank since it is scored +inf.
  local function sl_read(key, now, window)
    local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if head[1] == nil then return {} end
    if string.byte(head[1]) == 126 then return { meta = head[1] } end
    local oldest = tonumber(head[2])
    local tail = redis.call('ZRANGE', key, -2, -1, 'WITHSCORES')
    local n = #tail
    local meta = nil
    if string.byte(tail[n - 1]) == 126 then
      meta = tail[n - 1]
      n = n - 2
    end
    -- One constructor, so the table is sized once.
    return {
      head = head[1],
      oldest = oldest,
      expired = oldest <= now - window,
      meta = meta,
      newest = tonumber(tail[n]),
      newest_cum = sl_member(tail[n - 1]),
    }
  end

  local function sl_eval(key, now, limit, window_ms, cost)
    local window = window_ms * 1000
    local st = sl_read(key, now, window)
    -- A unit counted at t stays while now - t < window: live entries are scored above the cutoff.
    local count, base, oldest, lo = 0, 0, 0, 0
    if st.oldest ~= nil and st.newest > now - window then
      local first, cum, c = nil, nil, nil
      if st.expired then
        local cutoff = '(' .. fmt(now - window)
        local e = redis.call('ZRANGEBYSCORE', key, cutoff, '(+inf', 'WITHSCORES', 'LIMIT', 0, 1)
        first = tonumber(e[2])
        cum, c = sl_member(e[1])
      else
        first = st.oldest
        cum, c = sl_member(st.head)
      end
      if cum ~= nil and st.newest_cum ~= nil then
        base = cum - c
        oldest = first
        count = (st.newest_cum - base) % SL_MOD
      end
    end
    local need = units_needed(cost)
    local allowed = count + need <= limit
    local after = count
    if allowed and cost > 0 then after = count + cost end
    local retry = 0
    if not allowed then
      if need > limit or count == 0 then
        retry = window_ms
      else
        -- The entry holding the (count + need - limit)-th live unit: a binary search over ranks.
        local must = count + need - limit
        if st.expired then lo = redis.call('ZCOUNT', key, '-inf', fmt(now - window)) end
        local hi = lo + redis.call('ZCOUNT', key, '(' .. fmt(now - window), '(+inf') - 1
        while lo < hi do
          local mid = math.floor((lo + hi) / 2)
          local m = sl_member(redis.call('ZRANGE', key, mid, mid)[1])
          if m == nil or (m - base) % SL_MOD >= must then hi = mid else lo = mid + 1 end
        end
        local e = redis.call('ZRANGE', key, lo, lo, 'WITHSCORES')
        retry = ceil_ms(tonumber(e[2]) + window - now)
      end
    end
    local reset = 0
    if count > 0 then
      reset = ceil_ms(oldest + window - now)
    elseif allowed and cost > 0 then
      reset = window_ms
    end
    local remaining = limit - after
    if remaining < 0 then remaining = 0 end
    return allowed, after, remaining, retry, reset, st
  end

  -- a: index in ARGV of the limit's algorithm code: ARGV[a + 1 .. a + 3], its limit, window_ms
  -- and cost as sent, are written as they are rather than formatted anew.
  local function sl_commit(key, now, limit, window_ms, cost, _, st, a)
    local window = window_ms * 1000
    local score, cum = st.newest, st.newest_cum
    if st.expired then
      local expired = redis.call('ZCOUNT', key, '-inf', fmt(now - window))
      if expired > 0 then
        redis.call('ZREMRANGEBYRANK', key, 0, math.min(expired, SL_PRUNE) - 1)
        -- Every entry had expired and all went: the key holds the metadata member at most.
        if score <= now - window and expired <= SL_PRUNE then score = nil end
      end
    end
    local at = now
    if score ~= nil and cum == nil then
      redis.call('DEL', key)
      score = nil
      st.meta = nil
    end
    if score == nil then
      cum = 0
    elseif score > at then
      at = score
    end
    cum = cum + cost
    if cum >= SL_MOD then
      cum = cum - SL_MOD
      -- The wrapped member would sort before entries tied with it on score.
      if score == at then at = at + 1 end
    end
    local member = string.format('%015d', cum) .. ':' .. ARGV[a + 3]
    local at_s = fmt_memo(1, at)
    local meta = '~' .. ARGV[a + 1] .. ':' .. ARGV[a + 2]
    if st.meta == meta then
      redis.call('ZADD', key, at_s, member)
    else
      -- A new key, or new parameters: the metadata member is added with the entry.
      if st.meta ~= nil then redis.call('ZREMRANGEBYSCORE', key, '+inf', '+inf') end
      redis.call('ZADD', key, at_s, member, '+inf', meta)
    end
    redis.call('PEXPIRE', key, fmt_memo(2, ceil_ms(at + window - now) + 1))
  end

  local function sl_params(key)
    local m = redis.call('ZRANGEBYSCORE', key, '+inf', '+inf')
    if m[1] == nil then return nil end
    local limit, window_ms = string.match(m[1], '^~(%d+):(%d+)$')
    return tonumber(limit), tonumber(window_ms), 0
  end

  return { eval = sl_eval, commit = sl_commit, params = sl_params }
end

-- The O(1) algorithms keep a small hash with short field names: l = limit, w = window_ms, plus
-- their counters. Reads the recorded parameters of such a hash; extra names the field of the
-- algorithm's param (stored only when it differs from the limit, to keep the hash small), or nil.
local function hash_params(key, extra)
  local v = redis.call('HMGET', key, 'l', 'w', extra or 'l')
  if not v[1] then return nil end
  local limit = tonumber(v[1])
  local param = 0
  if extra then param = tonumber(v[3]) or limit end
  return limit, tonumber(v[2]), param
end

-- Stores an algorithm's param in field f only when it differs from the limit.
local function set_param(key, f, param, limit)
  if param == limit then
    redis.call('HDEL', key, f)
  else
    redis.call('HSET', key, f, fmt(param))
  end
end

-- fixed_window: e = end of the counted epoch-aligned window (us), c = its count. A count holds
-- until the end of its window even if window_ms changed since.
ALG_BUILD.fw = function()
  local function fw_state(key, now)
    local v = redis.call('HMGET', key, 'e', 'c')
    if v[1] then
      local e = tonumber(v[1])
      if now < e then return e, tonumber(v[2]) end
    end
    return nil, 0
  end

  local function fw_end(now, window_ms)
    local window = window_ms * 1000
    return now - math.fmod(now, window) + window
  end

  local function fw_eval(key, now, limit, window_ms, cost)
    local e, count = fw_state(key, now)
    if e == nil then e = fw_end(now, window_ms) end
    local need = units_needed(cost)
    local allowed = count + need <= limit
    local after = count
    if allowed and cost > 0 then after = count + cost end
    local retry = 0
    if not allowed then
      if need > limit then retry = window_ms else retry = ceil_ms(e - now) end
    end
    local reset = 0
    if after > 0 then reset = ceil_ms(e - now) end
    return allowed, after, math.max(0, limit - after), retry, reset
  end

  local function fw_commit(key, now, limit, window_ms, cost)
    local e, count = fw_state(key, now)
    if e == nil then e = fw_end(now, window_ms) end
    redis.call('HSET', key, 'l', fmt(limit), 'w', fmt(window_ms), 'e', fmt(e), 'c', fmt(count + cost))
    redis.call('PEXPIRE', key, fmt(ceil_ms(e - now) + 1))
  end

  local function fw_params(key)
    return hash_params(key, nil)
  end
  return { eval = fw_eval, commit = fw_commit, params = fw_params }
end

-- sliding_window: s = start of the current epoch-aligned window (us), c = its count, p = the
-- previous window's count. The estimate is c + floor(p * (window - elapsed) / window).
ALG_BUILD.sw = function()
  local function sw_window_counts(s, c, p, now, window)
    local start = now - math.fmod(now, window)
    if s == start then return c, p end
    if s == start - window then return 0, c end
    return 0, 0
  end

  local function sw_estimate(cur, prev, elapsed, window)
    return cur + math.floor(prev * (window - elapsed) / window)
  end

  -- Current and previous counts under window_ms; a key counted under another window length carries
  -- its estimate under that length as the current count.
  local function sw_counts(key, now, window_ms)
    local v = redis.call('HMGET', key, 'w', 's', 'c', 'p')
    if not v[1] then return 0, 0 end
    local w, s, c, p = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])
    if w == window_ms then return sw_window_counts(s, c, p, now, window_ms * 1000) end
    local old = w * 1000
    local cur, prev = sw_window_counts(s, c, p, now, old)
    return sw_estimate(cur, prev, math.fmod(now, old), old), 0
  end

  -- Smallest elapsed time e at which floor(n * (window - e) / window) <= m.
  local function sw_wait(n, m, window)
    if n <= m then return 0 end
    return math.floor(window - (m + 1) * window / n) + 1
  end

  local function sw_eval(key, now, limit, window_ms, cost)
    local window = window_ms * 1000
    local start = now - math.fmod(now, window)
    local elapsed = now - start
    local cur, prev = sw_counts(key, now, window_ms)
    local weighted = math.floor(prev * (window - elapsed) / window)
    local count = cur + weighted
    local need = units_needed(cost)
    local allowed = count + need <= limit
    local added = 0
    if allowed and cost > 0 then added = cost end
    local after = count + added
    local cur_after = cur + added
    local retry = 0
    if not allowed then
      if need > limit then
        retry = window_ms
      else
        local m = limit - need - cur
        local at
        if m >= 0 then
          at = start + sw_wait(prev, m, window)
        else
          at = start + window + sw_wait(cur, limit - need, window)
        end
        retry = math.max(1, ceil_ms(at - now))
      end
    end
    local reset = 0
    if weighted > 0 then
      reset = ceil_ms(start + sw_wait(prev, weighted - 1, window) - now)
    elseif cur_after > 0 then
      reset = ceil_ms(start + window + sw_wait(cur_after, cur_after - 1, window) - now)
    end
    return allowed, after, math.max(0, limit - after), retry, reset
  end

  local function sw_commit(key, now, limit, window_ms, cost)
    local window = window_ms * 1000
    local start = now - math.fmod(now, window)
    local cur, prev = sw_counts(key, now, window_ms)
    redis.call('HSET', key, 'l', fmt(limit), 'w', fmt(window_ms), 's', fmt(start),
      'c', fmt(cur + cost), 'p', fmt(prev))
    redis.call('PEXPIRE', key, fmt(ceil_ms(start + 2 * window - now) + 1))
  end

  local function sw_params(key)
    return hash_params(key, nil)
  end
  return { eval = sw_eval, commit = sw_commit, params = sw_params }
end

-- token_bucket: r = refill per window (when not the limit), k = level in ticks (tokens * window
-- us, so a refill of r tokens per window adds exactly r ticks per us), t = when k was computed
-- (us). A missing key is
-- a full bucket.
ALG_BUILD.tb = function()
  local function tb_level(key, now, limit, window_ms, rate)
    local window = window_ms * 1000
    local full = limit * window
    local v = redis.call('HMGET', key, 'w', 'k', 't')
    if not v[1] then return full end
    local w, level, t = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
    if w ~= window_ms then level = math.floor(level * window / (w * 1000)) end
    return math.min(full, level + math.max(0, now - t) * rate)
  end

  local function tb_eval(key, now, limit, window_ms, cost, rate)
    local window = window_ms * 1000
    local full = limit * window
    local level = tb_level(key, now, limit, window_ms, rate)
    local need = units_needed(cost)
    local allowed = need * window <= level
    local after = level
    if allowed and cost > 0 then after = level - cost * window end
    local remaining = math.min(limit, math.floor(after / window))
    local retry = 0
    if not allowed then
      if need > limit then
        retry = window_ms
      else
        retry = ceil_ms(math.ceil((need * window - level) / rate))
      end
    end
    local reset = 0
    if after < full then reset = ceil_ms(math.ceil(((remaining + 1) * window - after) / rate)) end
    return allowed, limit - remaining, remaining, retry, reset
  end

  local function tb_commit(key, now, limit, window_ms, cost, rate)
    local window = window_ms * 1000
    local level = tb_level(key, now, limit, window_ms, rate) - cost * window
    redis.call('HSET', key, 'l', fmt(limit), 'w', fmt(window_ms), 'k', fmt(level), 't', fmt(now))
    set_param(key, 'r', rate, limit)
    redis.call('PEXPIRE', key, fmt(ceil_ms(math.ceil((limit * window - level) / rate)) + 1))
  end

  local function tb_params(key)
    return hash_params(key, 'r')
  end
  return { eval = tb_eval, commit = tb_commit, params = tb_params }
end

-- gcra (virtual scheduling): b = burst (when not the limit), t = theoretical arrival time (us).
-- The emission interval is window / limit rounded up to whole us, so every quantity is an integer.
ALG_BUILD.gc = function()
  local function gc_interval(limit, window_ms)
    return math.ceil(window_ms * 1000 / limit)
  end

  local function gc_tat(key, now)
    local t = redis.call('HGET', key, 't')
    if not t then return now end
    return math.max(tonumber(t), now)
  end

  local function gc_eval(key, now, limit, window_ms, cost, burst)
    local interval = gc_interval(limit, window_ms)
    local tat = gc_tat(key, now)
    local need = units_needed(cost)
    local allowed = tat - now + need * interval <= burst * interval
    local nxt = tat
    if allowed and cost > 0 then nxt = tat + cost * interval end
    local used = math.ceil((nxt - now) / interval)
    local retry = 0
    if not allowed then
      if need > burst then
        retry = window_ms
      else
        retry = ceil_ms(tat + need * interval - burst * interval - now)
      end
    end
    local reset = 0
    if used > 0 then reset = ceil_ms(nxt - (used - 1) * interval - now) end
    return allowed, used, math.max(0, burst - used), retry, reset
  end

  local function gc_commit(key, now, limit, window_ms, cost, burst)
    local tat = gc_tat(key, now) + cost * gc_interval(limit, window_ms)
    redis.call('HSET', key, 'l', fmt(limit), 'w', fmt(window_ms), 't', fmt(tat))
    set_param(key, 'b', burst, limit)
    redis.call('PEXPIRE', key, fmt(ceil_ms(tat - now) + 1))
  end

  local function gc_params(key)
    return hash_params(key, 'b')
  end
  return { eval = gc_eval, commit = gc_commit, params = gc_params }
end

-- rs: sliding_log in the reference layout, stored as the original Python service stores it, so
-- tools reading that service's keys (ZCARD, ZCOUNT, ZADD of extra entries) share the counter.
-- KEY is 'ratelimit:<client key>', a sorted set of one member per unit: score = epoch
-- milliseconds, member '<ms>:<n>', n from INCRBY on KEY .. ':seq' (as the original, so both
-- services writing one key during a migration never collide). The key holds no parameters: the
-- caller of params passes the ones to report. A unit scored s counts while s > now_ms - window_ms,
-- future-scored members included (the original's demo writes some). Commit does work in
-- proportion to the cost (callers bound it, REFERENCE_MAX_COST in src/store/keys.ts) plus the
-- expired members it prunes, each of which some earlier commit wrote. Not for Redis Cluster: the
-- seq key is not declared in KEYS and the key carries no hash tag.
ALG_BUILD.rs = function()
  local RS_ZADD_CHUNK = 1000

  local function rs_eval(key, now, limit, window_ms, cost)
    local now_ms = math.floor(now / 1000)
    local cutoff = '(' .. fmt(now_ms - window_ms)
    local count = redis.call('ZCOUNT', key, cutoff, '+inf')
    local need = units_needed(cost)
    local allowed = count + need <= limit
    local after = count
    if allowed and cost > 0 then after = count + cost end
    local retry = 0
    if not allowed then
      if need > limit or count == 0 then
        retry = window_ms
      else
        -- The (count + need - limit)-th oldest live unit must leave before this request fits.
        local e = redis.call('ZRANGEBYSCORE', key, cutoff, '+inf', 'WITHSCORES', 'LIMIT',
          count + need - limit - 1, 1)
        retry = math.max(1, tonumber(e[2]) + window_ms - now_ms)
      end
    end
    local reset = 0
    if count > 0 then
      local e = redis.call('ZRANGEBYSCORE', key, cutoff, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      reset = math.max(1, tonumber(e[2]) + window_ms - now_ms)
    elseif allowed and cost > 0 then
      reset = window_ms
    end
    return allowed, after, math.max(0, limit - after), retry, reset
  end

  local function rs_commit(key, now, limit, window_ms, cost)
    local now_ms = math.floor(now / 1000)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now_ms - window_ms))
    local seq_key = key .. ':seq'
    local last = redis.call('INCRBY', seq_key, cost)
    local stamp = fmt(now_ms)
    local first = last - cost + 1
    while first <= last do
      local upto = math.min(last, first + RS_ZADD_CHUNK - 1)
      local args = {}
      for n = first, upto do
        args[#args + 1] = stamp
        args[#args + 1] = stamp .. ':' .. fmt(n)
      end
      redis.call('ZADD', key, unpack(args))
      first = upto + 1
    end
    -- Live until the newest unit (perhaps future-scored) leaves the window; never shortened.
    local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    local ttl = math.max(tonumber(newest[2]), now_ms) + window_ms - now_ms + 1
    for _, k in ipairs({ key, seq_key }) do
      if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, fmt(ttl)) end
    end
  end

  -- The parameters to report are the caller's (fallback_limit, fallback_window_ms); nil unless the
  -- key is a sorted set, so the original's other keys under 'ratelimit:' (':seq' counters,
  -- 'ratelimit:limit:' hashes) are not counters.
  local function rs_params(key, fallback_limit, fallback_window_ms)
    if redis.call('TYPE', key).ok ~= 'zset' then return nil end
    return tonumber(fallback_limit), tonumber(fallback_window_ms), 0
  end
  return { eval = rs_eval, commit = rs_commit, params = rs_params }
end

-- Algorithms are built on first use in a call: a script run defines every function of its
-- source anew, so building only those of the algorithms it uses saves most of that work.
local ALG = setmetatable({}, {
  __index = function(t, code)
    local build = ALG_BUILD[code]
    if build == nil then return nil end
    local alg = build()
    t[code] = alg
    return alg
  end,
})
`;

/** Number of ARGV entries per limit in {@linkcode CHECK_SCRIPT}. */
export const CHECK_ARGS_PER_LIMIT = 5;

// The function deciding one check, shared by the single and the batch check scripts.
const CHECK_FUNCTION = `
-- Decides one check of n limits, atomically: the keys are KEYS[k + 1 .. k + n], the arguments of
-- limit i start at ARGV[a + (i - 1) * 5]. Returns the reply of CHECK_SCRIPT, or an error reply
-- (a table {err = ...}) for an unknown algorithm, before anything is written.
local function check(k, a, n, now)
  local reply = { 1, 0 }
  local all = true
  local denied = 0
  local params = {}
  for i = 1, n do
    local b = a + (i - 1) * 5
    local alg = ALG[ARGV[b]]
    if alg == nil then return redis.error_reply('ERR unknown algorithm ' .. tostring(ARGV[b])) end
    local limit, window_ms, cost = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
    local param = tonumber(ARGV[b + 4])
    local allowed, count, remaining, retry, reset, state =
      alg.eval(KEYS[k + i], now, limit, window_ms, cost, param)
    params[i] = { alg, limit, window_ms, cost, param, state, b }
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
      if p[4] > 0 then p[1].commit(KEYS[k + i], now, p[2], p[3], p[4], p[5], p[6], p[7]) end
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
        local _, count, remaining, _, reset = p[1].eval(KEYS[k + i], now, p[2], p[3], 0, p[5])
        reply[o + 2] = count
        reply[o + 3] = remaining
        reply[o + 5] = reset
      end
    end
  end
  return reply
end
`;

// The body of the single check scripts, after their shebang, the prelude and CHECK_FUNCTION.
const CHECK_BODY = `
return check(0, 2, #KEYS, read_now(ARGV[1]))
`;

// The body of the batch check scripts, after their shebang, the prelude and CHECK_FUNCTION.
const CHECK_BATCH_BODY = `
local now = read_now(ARGV[1])
local replies = {}
local k, a = 0, 2
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  local ok, reply = pcall(check, k, a + 1, n, now)
  if not ok then
    -- A Redis error reply raised by redis.call arrives as a table, a Lua runtime error as a string.
    if type(reply) ~= 'table' or reply.err == nil then
      reply = redis.error_reply('ERR ' .. tostring(reply))
    end
  end
  replies[#replies + 1] = reply
  k = k + n
  a = a + 1 + n * 5
end
return replies
`;

/**
 * Decides one or more limits atomically: every limit consumes, or none does.
 *
 * KEYS[i]: state key of limit i (i = 1..n), all in one hash slot.
 * ARGV[1]: now in microseconds, or "" to read Redis TIME.
 * ARGV[2 + (i-1)*5 .. 6 + (i-1)*5]: algorithm code, limit, window_ms, cost and param of limit i
 *   (param: burst for gcra, refill rate per window for token_bucket, 0 otherwise). Code `rs` is
 *   sliding_log in the reference layout: KEYS[i] is then `ratelimit:<key>` and the script also
 *   writes `KEYS[i]:seq` (undeclared, so never on Redis Cluster).
 * Returns: {all_allowed (0|1), denied_index (1-based, 0 if none),
 *           then per limit: allowed (0|1), count, remaining, retry_after_ms, reset_after_ms}.
 */
export const CHECK_SCRIPT = `#!lua${PRELUDE}${CHECK_FUNCTION}${CHECK_BODY}`;

/**
 * {@linkcode CHECK_SCRIPT} for checks whose every limit costs 0 (peeks): the same decisions, but
 * declared read-only, so Redis refuses any write and runs it even when out of memory.
 */
export const CHECK_READ_ONLY_SCRIPT =
  `#!lua flags=no-writes${PRELUDE}${CHECK_FUNCTION}${CHECK_BODY}`;

/**
 * Decides several independent checks in one script run, in order, each exactly as
 * {@linkcode CHECK_SCRIPT} would (atomic on its own: all its limits consume or none), all at the
 * same time `now`: what coalescing sends instead of one EVALSHA per check. A check that fails (an
 * error reply of a command, an unknown algorithm) gets an error reply in its place and the others
 * go on; what a failed check wrote before failing stays, as with CHECK_SCRIPT.
 *
 * KEYS: the keys of every check, check after check (each check's keys in one hash slot; on Redis
 *   Cluster the whole call in one slot).
 * ARGV[1]: now in microseconds, or "" to read Redis TIME (once for the call).
 * Then per check: its number of limits n, then 5 arguments per limit as in CHECK_SCRIPT.
 * Returns: one element per check, in order: the reply CHECK_SCRIPT would give, or an error.
 */
export const CHECK_BATCH_SCRIPT = `#!lua${PRELUDE}${CHECK_FUNCTION}${CHECK_BATCH_BODY}`;

/** {@linkcode CHECK_BATCH_SCRIPT} for checks whose every limit costs 0 (peeks), declared read-only. */
export const CHECK_BATCH_READ_ONLY_SCRIPT =
  `#!lua flags=no-writes${PRELUDE}${CHECK_FUNCTION}${CHECK_BATCH_BODY}`;

/**
 * Reports the state of counters under the parameters they were last consumed with, consuming
 * nothing. Used to list counters; each key may be in a different slot, so one key per call.
 *
 * KEYS[1]: state key.
 * ARGV[1]: now in microseconds, or "" to read Redis TIME.
 * ARGV[2]: algorithm code (`rs` for sliding_log in the reference layout).
 * ARGV[3], ARGV[4]: `rs` only: the limit and window_ms to report, since that layout records none.
 * Returns: {} when the key holds no state, else {limit, window_ms, param, allowed (0|1), count,
 *          remaining, retry_after_ms, reset_after_ms} (param as in CHECK_SCRIPT).
 */
export const PEEK_SCRIPT = `#!lua flags=no-writes${PRELUDE}
local alg = ALG[ARGV[2]]
if alg == nil then return redis.error_reply('ERR unknown algorithm ' .. tostring(ARGV[2])) end
local limit, window_ms, param = alg.params(KEYS[1], ARGV[3], ARGV[4])
if limit == nil then return {} end
local allowed, count, remaining, retry, reset =
  alg.eval(KEYS[1], read_now(ARGV[1]), limit, window_ms, 0, param)
return { limit, window_ms, param, allowed and 1 or 0, count, remaining, retry, reset }
`;
