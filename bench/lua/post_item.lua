-- POST /items with a fresh JSON body each time (a command on the product, an INSERT on the baseline).
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

local counter = 0
local thread_tag = ""

function init(args)
  thread_tag = tostring({}):sub(8)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench item %s-%d","description":"Posted by wrk, request %d","price":%d.%02d}',
    thread_tag, counter, counter, counter % 1000, counter % 100)
  return wrk.format("POST", "/items", {["Content-Type"] = "application/json"}, body)
end
