-- Tour 7: GOAWAY and graceful shutdown. session:close() sends
-- GOAWAY(NO_ERROR) naming the last stream it will answer: the request in
-- flight finishes, a new one is refused by the client at once, and the
-- connection closes when nothing is left. (SIGTERM does this to every
-- session of the h2lua program; server:close() stops accepting.)
--   h2lua --trace docs/tour/07-goaway.lua
local h2lua = require "h2lua"
local http2 = require "http2"

local server = http2.createServer()
local sessions = {}
server:on("session", function(session) sessions[#sessions + 1] = session end)
server:on("stream", function(stream)
  h2lua.sleep(100) -- still working when the shutdown begins
  stream:respond({ [":status"] = 200 })
  stream:finish("finished after the GOAWAY\n")
end)
server:listen(0, "127.0.0.1")
server:wait("listening")

local client = http2.connect("http://127.0.0.1:" .. server:address().port)
client:on("goaway", function(code, last)
  print(("client: GOAWAY code %d, last stream %d"):format(code, last))
end)
local req = client:request({ [":path"] = "/long" })
req:resume()
h2lua.sleep(30)
for _, session in ipairs(sessions) do session:close(function() end) end -- a GOAWAY on each
server:close(function() print("server: closed") end) -- no new connections
print("client: " .. req:readAll():gsub("\n$", ""))
local ok, err = pcall(client.request, client, { [":path"] = "/late" })
print("client: a new request: " .. (ok and "sent" or err.code))
client:close()
