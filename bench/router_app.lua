-- The router app of bench/router.sh: ROUTES routes (bench/router.lua's
-- shapes), each answering a small JSON body, on the stream API.
--   h2lua bench/router_app.lua PORT ROUTES
local http2 = require "http2"
local router = require "h2lua.router"

local port, size = tonumber(arg[1]) or 8080, tonumber(arg[2]) or 10
local app = router.new()
local shapes = { "/svc%d/users/:id", "/svc%d/users/:id/posts/:post", "/svc%d/files/*", "/svc%d/health" }
for r = 0, size - 1 do
  app:get(shapes[r % 4 + 1]:format(r // 4 + 1), function(req)
    return { route = r, id = req.params.id }
  end)
end
local server = http2.createServer()
server:on("stream", app:stream())
server:listen(port, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/ with %d routes"):format(server:address().port, app.routes))
  io.stdout:flush()
end)
