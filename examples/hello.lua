-- Hello world over h2c.
--   h2lua examples/hello.lua [port]
--   curl --http2-prior-knowledge http://127.0.0.1:8080/
local http2 = require "http2"

local port = tonumber(arg and arg[1]) or 8080
local server = http2.createServer()
server:on("stream", function(stream, headers)
  stream:respond({ [":status"] = 200, ["content-type"] = "text/plain" })
  stream:finish("hello world\n")
end)
server:listen(port, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
