-- GET a path taken from the file named by BENCH_PATHS (one path a line), cycling from a
-- random start in each thread: many ids for GET /items/<id>, cursor or offset URLs of a
-- deep page for pagination.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

local paths = {}
local next_index = 1

function init(args)
  for line in io.lines(os.getenv("BENCH_PATHS")) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  next_index = math.random(#paths)
end

function request()
  local path = paths[next_index]
  next_index = next_index % #paths + 1
  return wrk.format("GET", path)
end
