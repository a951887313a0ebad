-- http2.connect(): a client session; use it, then close it.
--   h2lua examples/node/http2-connect.lua [http://127.0.0.1:8000]
local http2 = require "http2"
local client = http2.connect(arg[1] or "http://127.0.0.1:8000", function(session)
  print("connected to " .. session.socket.remoteAddress .. ":" .. session.socket.remotePort)
end)

-- Use the client
local req = client:request({ [":path"] = "/" })
req:on("response", function(headers) print("status " .. headers[":status"]) end)
req:resume()
req:on("end", function()
  client:close()
end)
client:on("close", function() print("closed") end)
