-- POST a batch of BENCH_BATCH readings to the URL on wrk's command line (/devices/<id>/telemetry):
-- fresh values, recorded now. The product refuses a reading more than 5 minutes ahead of its
-- clock, so times come from the same clock and never run ahead of it. As from a real device,
-- each batch is later than the last: the microseconds count on per thread, interleaved
-- between up to 8 threads (reusing .000001-.000100 every batch would scatter each batch's
-- rows among all the earlier ones in any table kept in time order).
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

local batch = tonumber(os.getenv("BENCH_BATCH"))
local metrics = {"temperature", "humidity"}
local counter = 0
local threads_set_up = 0
other_status = 0 -- global: report.lua adds it up over the threads

local report_setup = setup
function setup(thread)
  thread:set("thread_id", threads_set_up)
  threads_set_up = threads_set_up + 1
  report_setup(thread)
end

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
      metrics[i % 2 + 1], n % 50, n % 100, now, ((counter * 8 + thread_id) * batch + i) % 1000000)
  end
  local body = '{"readings":[' .. table.concat(readings, ",") .. "]}"
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
