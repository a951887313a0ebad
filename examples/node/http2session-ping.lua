-- http2session.ping(): a PING frame with an 8-byte payload; the callback
-- gets the round trip and the payload the peer echoed.
--   h2lua examples/node/http2session-ping.lua
local http2 = require "http2"

local server = http2.createServer()
server:listen(0, "127.0.0.1", function()
  local session = http2.connect("http://127.0.0.1:" .. server:address().port)
  session:ping("abcdefgh", function(err, duration, payload)
    if not err then
      print(("Ping acknowledged in %.3f milliseconds"):format(duration))
      print(("With payload '%s'"):format(payload))
    end
    session:close()
    server:close()
  end)
end)
