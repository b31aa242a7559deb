-- POST a batch of BENCH_BATCH readings to the URL on wrk's command line (/devices/<id>/telemetry):
-- fresh values, recorded now. The product refuses a reading more than 5 minutes ahead of its
-- clock, so times come from the same clock and never run ahead of it; any order is accepted.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

local batch = tonumber(os.getenv("BENCH_BATCH"))
local metrics = {"temperature", "humidity"}
local counter = 0
other_status = 0 -- global: report.lua adds it up over the threads

-- wrk counts statuses from 400 up as errors; a 1xx or 3xx accepted nothing either.
function response(status)
  if status < 200 or (status >= 300 and status < 400) then other_status = other_status + 1 end
end

function request()
  counter = counter + 1
  local now = os.date("!%Y-%m-%dT%H:%M:%S", os.time())
  local readings = {}
  for i = 1, batch do
    local n = counter * batch + i
    readings[i] = string.format('{"metric":"%s","value":%d.%02d,"recorded_at":"%s.%06dZ"}',
      metrics[i % 2 + 1], n % 50, n % 100, now, i)
  end
  local body = '{"readings":[' .. table.concat(readings, ",") .. "]}"
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
