-- Shared by every scenario script: print the run's figures as one JSON line that
-- bench/run.py reads (latencies in microseconds). A script may count answers wrk does
-- not call errors in a global ``other_status`` of each thread; they are added up here.
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local errors = summary.errors
  local other_status = 0
  for _, thread in ipairs(threads) do
    other_status = other_status + (thread:get("other_status") or 0)
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"other_status_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max, errors.connect, errors.read, errors.write, errors.status,
    other_status, errors.timeout))
end
