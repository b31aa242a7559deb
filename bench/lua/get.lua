-- A plain GET of the URL given on wrk's command line (first pages, the ceiling).
dofile(os.getenv("BENCH_LUA") .. "/report.lua")
