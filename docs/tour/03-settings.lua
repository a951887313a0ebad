-- Tour 3: settings. Each side opens with a SETTINGS frame and acknowledges
-- the other's; settings() changes them later (another SETTINGS, another
-- ACK). maxConcurrentStreams of 1 makes the client queue its second request.
--   h2lua --trace docs/tour/03-settings.lua
local http2 = require "http2"

local server = http2.createServer({ settings = {
  maxConcurrentStreams = 1, headerTableSize = 8192, maxHeaderListSize = 16384 } })
server:on("stream", function(stream, headers)
  stream:respond({ [":status"] = 200 })
  stream:finish(headers[":path"])
end)
server:listen(0, "127.0.0.1")
server:wait("listening")

local client = http2.connect("http://127.0.0.1:" .. server:address().port)
local remote = client:wait("remoteSettings")
print(("client: the server allows %d stream(s) at once, header lists up to %d bytes"):format(
  remote.maxConcurrentStreams, remote.maxHeaderListSize))
-- two requests: the second goes out only once the first closed
local a = client:request({ [":path"] = "/a" })
local b = client:request({ [":path"] = "/b" })
print("client: " .. a:readAll() .. " then " .. b:readAll())
-- new settings of our own, acknowledged by the server
local err, settings = client:settings({ initialWindowSize = 1000000, enablePush = false })
print(("client: the server acknowledged initialWindowSize %d, enablePush %s"):format(
  settings.initialWindowSize, tostring(settings.enablePush)))
client:close()
server:close()
