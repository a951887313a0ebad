-- Http2Stream: respond() with headers, the server's trailers after the
-- body (waitForTrailers, 'wantTrailers', sendTrailers()) and the client's
-- 'trailers' event.
--   h2lua examples/node/http2stream.lua
local http2 = require "http2"

local server = http2.createServer()
server:on("stream", function(stream)
  stream:respond({
    ["content-type"] = "text/html; charset=utf-8",
    [":status"] = 200,
  }, { waitForTrailers = true })
  stream:on("wantTrailers", function()
    stream:sendTrailers({ xyz = "abc" })
  end)
  stream:finish("Hello World")
end)

server:listen(0, "127.0.0.1", function()
  local client = http2.connect("http://127.0.0.1:" .. server:address().port)
  local req = client:request({ [":path"] = "/" })
  req:on("response", function(headers) print("status " .. headers[":status"]) end)
  req:on("data", function(chunk) print("body " .. chunk) end)
  req:on("trailers", function(headers, flags)
    print("trailer xyz: " .. headers.xyz)
  end)
  req:on("close", function()
    client:close()
    server:close()
  end)
end)
