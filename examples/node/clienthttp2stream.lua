-- ClientHttp2Stream's 'headers', 'push' and 'response' events, the
-- server's pushStream(), and push streams on the client (the session's
-- 'stream' event).
--   h2lua examples/node/clienthttp2stream.lua
local http2 = require "http2"

local server = http2.createServer()
server:on("stream", function(stream)
  stream:additionalHeaders({ [":status"] = 103, link = "</style.css>; rel=preload" })
  stream:respond({ [":status"] = 200 })
  stream:pushStream({ [":path"] = "/style.css" }, function(err, pushStream, headers)
    if err then error(err) end
    pushStream:respond({ [":status"] = 200 })
    pushStream:finish("some pushed data")
  end)
  stream:finish("some data")
end)

server:listen(0, "127.0.0.1", function()
  local client = http2.connect("http://127.0.0.1:" .. server:address().port)
  local pending = 2
  local function done()
    pending = pending - 1
    if pending == 0 then
      client:close()
      server:close()
    end
  end

  client:on("stream", function(pushedStream, requestHeaders)
    print("pushed: " .. requestHeaders[":path"])
    pushedStream:on("push", function(responseHeaders)
      -- Process response headers
      print("push status " .. responseHeaders[":status"])
    end)
    pushedStream:on("data", function(chunk) print("pushed data: " .. chunk) end)
    pushedStream:on("close", done)
  end)

  local req = client:request({ [":path"] = "/" })
  req:on("headers", function(headers, flags) -- informational (1xx) blocks
    print("headers " .. headers[":status"] .. " link " .. headers.link)
  end)
  req:on("response", function(headers, flags)
    print("response " .. headers[":status"])
  end)
  req:on("data", function(chunk) print("data: " .. chunk) end)
  req:on("close", done)
end)
