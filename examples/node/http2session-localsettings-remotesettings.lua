-- 'localSettings' and 'remoteSettings': session:settings() sends a
-- SETTINGS frame; 'localSettings' fires when the peer acknowledges it,
-- 'remoteSettings' when the peer's SETTINGS arrive.
--   h2lua examples/node/http2session-localsettings-remotesettings.lua
local http2 = require "http2"

local server = http2.createServer()
server:on("session", function(session)
  session:on("remoteSettings", function(settings)
    -- Use the new settings
    print("server: the client's initialWindowSize is " .. settings.initialWindowSize)
  end)
end)
server:on("stream", function(stream)
  stream:respond({ [":status"] = 204 })
  stream:finish()
end)

server:listen(0, "127.0.0.1", function()
  local session = http2.connect("http://127.0.0.1:" .. server:address().port)
  local acked = 0
  session:on("localSettings", function(settings)
    -- Use the new settings
    acked = acked + 1
    if acked == 2 then -- the first ACK is of the connection's own SETTINGS
      print("client: enablePush is now " .. tostring(settings.enablePush))
      session:close()
      server:close()
    end
  end)
  session:on("connect", function()
    session:settings({ enablePush = false, initialWindowSize = 100000 })
  end)
end)
