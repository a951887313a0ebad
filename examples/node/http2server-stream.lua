-- Http2Server 'stream': the server's own stream event, header names from http2.constants.
--   h2lua examples/node/http2server-stream.lua [port]
--   curl --http2-prior-knowledge http://127.0.0.1:8000/
local http2 = require "http2"
local C = http2.constants

local server = http2.createServer()
server:on("stream", function(stream, headers, flags)
  local method = headers[C.HTTP2_HEADER_METHOD]
  local path = headers[C.HTTP2_HEADER_PATH]
  -- ...
  stream:respond({
    [C.HTTP2_HEADER_STATUS] = 200,
    [C.HTTP2_HEADER_CONTENT_TYPE] = "text/plain; charset=utf-8",
  })
  stream:write("hello ")
  stream:finish("world")
end)

server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
