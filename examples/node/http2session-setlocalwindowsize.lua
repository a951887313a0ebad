-- http2session.setLocalWindowSize(): the connection's receive window,
-- set as the session opens (a WINDOW_UPDATE on stream 0 tells the peer).
--   h2lua examples/node/http2session-setlocalwindowsize.lua
local http2 = require "http2"

local server = http2.createServer()
local expectedWindowSize = 2 ^ 20
server:on("session", function(session) -- Node's example says 'connect'
  -- Set local window size to be 2 ** 20
  session:setLocalWindowSize(math.tointeger(expectedWindowSize))
  print("server: effectiveLocalWindowSize " .. session.state.effectiveLocalWindowSize)
end)
server:on("stream", function(stream)
  stream:respond({ [":status"] = 200 })
  stream:finish()
end)

server:listen(0, "127.0.0.1", function()
  local session = http2.connect("http://127.0.0.1:" .. server:address().port)
  local req = session:request({ [":path"] = "/" })
  req:on("response", function()
    print("client: remoteWindowSize " .. session.state.remoteWindowSize)
  end)
  req:resume()
  req:on("close", function()
    session:close()
    server:close()
  end)
end)
