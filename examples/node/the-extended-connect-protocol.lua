-- The extended CONNECT protocol (RFC 8441): a server that allows it says
-- so in its SETTINGS; a client that sees enableConnectProtocol may send
-- CONNECT with a :protocol (WebSocket's is "websocket").
--   h2lua examples/node/the-extended-connect-protocol.lua
local http2 = require "http2"

local settings = { enableConnectProtocol = true }
local server = http2.createServer({ settings = settings })
server:on("stream", function(stream, headers)
  print("server: " .. headers[":method"] .. " :protocol " .. headers[":protocol"] ..
    " " .. headers[":path"])
  stream:respond({ [":status"] = 200 })
  stream:finish("tunnel for " .. headers[":protocol"])
end)

server:listen(0, "127.0.0.1", function()
  local client = http2.connect("http://127.0.0.1:" .. server:address().port)
  client:on("remoteSettings", function(settings)
    if settings.enableConnectProtocol then
      print("client: the server allows extended CONNECT")
      local req = client:request({ [":method"] = "CONNECT", [":protocol"] = "foo",
        [":path"] = "/chat", [":scheme"] = "http" })
      req:on("response", function(headers) print("client: status " .. headers[":status"]) end)
      req:on("data", function(chunk) print("client: " .. chunk) end)
      req:on("close", function()
        client:close()
        server:close()
      end)
      req:finish()
    end
  end)
end)
