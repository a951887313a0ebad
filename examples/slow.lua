-- A slow response, written in parts with timers: shows h2lua.sleep and the
-- graceful shutdown (SIGTERM lets this response finish, then exits 0).
--   h2lua examples/slow.lua [port] [parts] [ms-between-parts]
--   curl --http2-prior-knowledge http://127.0.0.1:8080/
local http2 = require "http2"
local h2lua = require "h2lua"

local port = tonumber(arg and arg[1]) or 8080
local parts = tonumber(arg and arg[2]) or 5
local gap = tonumber(arg and arg[3]) or 200

local server = http2.createServer()
server:on("stream", function(stream)
  stream:respond({ [":status"] = 200, ["content-type"] = "text/plain" })
  for i = 1, parts do
    stream:write(("part %d of %d\n"):format(i, parts))
    h2lua.sleep(gap)
  end
  stream:finish("done\n")
end)

-- a heartbeat that does not keep the process alive on its own
h2lua.setInterval(function() end, 1000):unref()

server:listen(port, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
