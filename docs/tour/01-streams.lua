-- Tour 1: streams and multiplexing. Three requests on one connection, at
-- once; the slow one does not hold the others up.
--   h2lua --trace docs/tour/01-streams.lua
local h2lua = require "h2lua"
local http2 = require "http2"

local server = http2.createServer()
server:on("stream", function(stream, headers)
  print(("server: stream %d %s, state %s"):format(stream.id, headers[":path"], stream.state.stateName))
  if headers[":path"] == "/slow" then h2lua.sleep(100) end
  stream:respond({ [":status"] = 200 })
  stream:finish(headers[":path"])
end)
server:listen(0, "127.0.0.1")
server:wait("listening")

local client = http2.connect("http://127.0.0.1:" .. server:address().port)
local done = {}
local reqs = {}
for _, path in ipairs({ "/slow", "/fast", "/also-fast" }) do
  local req = client:request({ [":path"] = path })
  req:on("end", function() done[#done + 1] = path end)
  req:resume()
  reqs[#reqs + 1] = req
end
for _, req in ipairs(reqs) do req:wait("close") end
print("client: streams " .. reqs[1].id .. ", " .. reqs[2].id .. ", " .. reqs[3].id ..
  " finished in the order " .. table.concat(done, " "))
client:close()
server:close()
