-- wrk script for the ingress bench: POST every request with a body never sent before.
--
--   wrk -t T -c C -d Ds -s bench/postbacks.lua URL -- BODIES_FILE T
--
-- BODIES_FILE holds one form-encoded postback per line (bench/ingress.py mint_bodies); thread i
-- of T sends lines i, i+T, i+2T, ... so no two requests carry the same invoice. If a thread runs
-- out it starts over (a duplicate postback is cheaper for the gateway) and reports that, so the
-- bench can say the run was too long for the bodies it had. `done` prints one JSON line after
-- wrk's own report, marked WRK_JSON, with the status counts the threads saw.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local bodies = {}
local index = 0
statuses = {}
wrapped = 0

function init(args)
  local path, count = args[1], tonumber(args[2])
  local line_no = 0
  for line in io.lines(path) do
    if line ~= "" then
      if line_no % count == id then
        bodies[#bodies + 1] = line
      end
      line_no = line_no + 1
    end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  index = index + 1
  if index > #bodies then
    index = 1
    wrapped = wrapped + 1
  end
  return wrk.format(nil, nil, nil, bodies[index])
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local merged, wraps = {}, 0
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("statuses")) do
      merged[key] = (merged[key] or 0) + n
    end
    wraps = wraps + thread:get("wrapped")
  end
  local parts = {}
  for key, n in pairs(merged) do
    parts[#parts + 1] = string.format('"%s": %d', key, n)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "errors": %d, "wrapped": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.timeout, wraps,
    table.concat(parts, ", ")))
end
