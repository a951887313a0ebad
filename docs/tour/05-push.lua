-- Tour 5: server push. With the response to / the server promises
-- /style.css (PUSH_PROMISE on stream 1 names stream 2) and sends it on
-- stream 2. A client that says enablePush = false gets no promise.
--   h2lua --trace docs/tour/05-push.lua
local http2 = require "http2"

local server = http2.createServer()
server:on("stream", function(stream, headers)
  if headers[":path"] == "/" and stream.pushAllowed then
    stream:pushStream({ [":path"] = "/style.css" }, function(err, push)
      push:respond({ [":status"] = 200, ["content-type"] = "text/css" })
      push:finish("body { color: teal }")
    end)
  elseif headers[":path"] == "/" then
    print("server: this client refuses pushes")
  end
  stream:respond({ [":status"] = 200, ["content-type"] = "text/html" })
  stream:finish('<link rel="stylesheet" href="/style.css">')
end)
server:listen(0, "127.0.0.1")
server:wait("listening")
local origin = "http://127.0.0.1:" .. server:address().port

local client = http2.connect(origin)
client:on("stream", function(pushed, request_headers)
  print("client: pushed " .. request_headers[":path"] .. " on stream " .. pushed.id)
  pushed:on("data", function(d) print("client: pushed body " .. d) end)
end)
local req = client:request({ [":path"] = "/" })
print("client: page " .. req:readAll())
req:wait("close")
client:close()

local nopush = http2.connect(origin, { settings = { enablePush = false } })
local req2 = nopush:request({ [":path"] = "/" })
req2:readAll()
nopush:close()
server:close()
