-- Route lookups per second of h2lua.router, in-process, with 10 and 10 000
-- routes, next to a list of Lua patterns scanned in order (what a router
-- without a trie does), to show which cost grows with the routes.
--   LUA_PATH="lua/?.lua;;" lua5.4 bench/router.lua [lookups] [sizes...]
-- Defaults: 200000 lookups, sizes 10 and 10000. The routes, per i:
-- /svc<i>/users/:id, /svc<i>/users/:id/posts/:post, /svc<i>/files/*,
-- /svc<i>/health for i = 1, 2, ... until there are that many; the lookups
-- cycle through paths of the first, middle and last four routes and a 404.
local router = require "h2lua.router"

local N = tonumber(arg[1]) or 200000
local sizes = {}
for i = 2, #arg do sizes[#sizes + 1] = tonumber(arg[i]) end
if #sizes == 0 then sizes = { 10, 10000 } end

local function build(size)
  local app = router.new()
  local list = {}
  local function add(path, h)
    app:get(path, h)
    -- the same route as an anchored Lua pattern, for the scan
    local pat = "^" .. path:gsub("[%-%.]", "%%%0"):gsub(":[%w_]+", "([^/]+)"):gsub("%*$", "(.*)") .. "$"
    list[#list + 1] = { pat = pat, h = h }
  end
  local patterns = {}
  for r = 0, size - 1 do
    local i, kind = r // 4 + 1, r % 4
    local path = ({ "/svc%d/users/:id", "/svc%d/users/:id/posts/:post",
      "/svc%d/files/*", "/svc%d/health" })[kind + 1]:format(i)
    patterns[#patterns + 1] = path
    add(path, function() return r end)
  end
  -- concrete paths of the first, middle and last four routes, and a 404
  local paths = {}
  for _, base in ipairs({ 1, (size // 8) * 4 + 1, size - 3 }) do
    for r = math.max(1, base), math.min(size, base + 3) do
      paths[#paths + 1] = patterns[r]:gsub(":id", "42"):gsub(":post", "7"):gsub("%*$", "a/b/c.txt")
    end
  end
  return app, list, paths
end

local function scan(list, path)
  for _, r in ipairs(list) do
    if path:find(r.pat) then return r.h end
  end
end

local function rate(n, f)
  local t0 = os.clock()
  f(n)
  local dt = os.clock() - t0
  return n / dt
end

print(("%-8s %8s %16s %16s"):format("routes", "lookups", "trie lookups/s", "scan lookups/s"))
for _, size in ipairs(sizes) do
  local app, list, paths = build(size)
  local np = #paths
  -- check both agree before timing them
  for _, p in ipairs(paths) do
    assert((app:match("GET", p)) == scan(list, p), "trie and scan disagree on " .. p)
  end
  local trie = rate(N, function(n)
    for k = 1, n do app:match("GET", paths[k % np + 1]) end
  end)
  -- the scan is slow with many routes: fewer lookups, same rate measure
  local sn = math.max(1000, math.floor(N * 10 / size))
  if sn > N then sn = N end
  local sc = rate(sn, function(n)
    for k = 1, n do scan(list, paths[k % np + 1]) end
  end)
  print(("%-8d %8d %16.0f %16.0f"):format(app.routes, N, trie, sc))
end
