-- wrk script of the benchmarks: POST /check (or /check/batch) with JSON bodies, counting 200s
-- and 429s, and printing one machine-readable line at the end.
--
--   wrk -t1 -c50 -d10s -s bench/wrk_check.lua http://127.0.0.1:8000 -- KEYS LIMIT WINDOW_MS PREFIX
--
-- KEYS = 1 sends one key; otherwise keys are drawn uniformly from KEYS keys.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  keys = tonumber(args[1]) or 10000
  limit = tonumber(args[2]) or 1000000
  window = tonumber(args[3]) or 60000
  prefix = args[4] or "wrk"
  allowed = 0
  blocked = 0
  other = 0
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  local key = prefix
  if keys > 1 then key = prefix .. ":" .. math.random(keys) end
  local body = string.format('{"key":"%s","limit":%d,"window_ms":%d}', key, limit, window)
  return wrk.format("POST", "/check", headers, body)
end

function response(status, headers, body)
  if status == 200 then
    allowed = allowed + 1
  elseif status == 429 then
    blocked = blocked + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, b, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    a = a + thread:get("allowed")
    b = b + thread:get("blocked")
    o = o + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"allowed":%d,"blocked":%d,"other":%d,' ..
      '"errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, a, b, o,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
