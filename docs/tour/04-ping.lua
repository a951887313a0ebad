-- Tour 4: ping. A PING carries 8 bytes the peer sends back in a PING with
-- the ACK flag: a round trip, and a way to keep a connection warm.
--   h2lua --trace docs/tour/04-ping.lua
local http2 = require "http2"

local server = http2.createServer()
server:on("session", function(session)
  session:on("ping", function(payload) print("server: ping " .. payload) end)
end)
server:listen(0, "127.0.0.1")
server:wait("listening")

local client = http2.connect("http://127.0.0.1:" .. server:address().port)
client:wait("connect")
local err, duration, payload = client:ping("h2lua:-)")
print(("client: the ACK came back with %q (round trip under %d ms)"):format(payload,
  math.floor(duration) + 1))
client:close()
server:close()
