-- http2.createServer(): an unencrypted HTTP/2 server (no browser speaks h2c: use createSecureServer for them).
--   h2lua examples/node/http2-createserver.lua [port]
--   curl --http2-prior-knowledge http://127.0.0.1:8000/
local http2 = require "http2"

local server = http2.createServer()
server:on("stream", function(stream, headers, flags)
  stream:respond({
    ["content-type"] = "text/html; charset=utf-8",
    [":status"] = 200,
  })
  stream:finish("<h1>Hello World</h1>")
end)

server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
