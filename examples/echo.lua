-- Streams the request body back as it arrives.
--   h2lua examples/echo.lua [port]
--   curl --http2-prior-knowledge --data-binary @file http://127.0.0.1:8080/
local http2 = require "http2"

local port = tonumber(arg and arg[1]) or 8080
local server = http2.createServer()
server:on("stream", function(stream, headers)
  stream:respond({ [":status"] = 200,
    ["content-type"] = headers["content-type"] or "application/octet-stream" })
  while true do
    local chunk = stream:read()      -- waits; the peer's window opens as we read
    if not chunk then break end
    if not stream:write(chunk) then  -- the peer reads slower than it sends
      stream:wait("drain")
    end
  end
  stream:finish()
end)
server:listen(port, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
