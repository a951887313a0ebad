-- Tour 8: errors. A stream error ends one stream (RST_STREAM with a code);
-- a connection error ends them all (GOAWAY with a code, then the close).
--   h2lua --trace docs/tour/08-errors.lua
local http2 = require "http2"

local server = http2.createServer()
server:on("stream", function(stream, headers)
  if headers[":path"] == "/refuse" then
    stream:close(http2.constants.NGHTTP2_REFUSED_STREAM) -- this stream only
  elseif headers[":path"] == "/calm" then
    stream.session:goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM) -- the connection
  else
    stream:respond({ [":status"] = 200 })
    stream:finish("fine")
  end
end)
server:listen(0, "127.0.0.1")
server:wait("listening")

local client = http2.connect("http://127.0.0.1:" .. server:address().port)
client:on("error", function(err) print("client: session error " .. err.code .. ": " .. err.message) end)
local r1 = client:request({ [":path"] = "/refuse" })
r1:on("error", function(err) print("client: stream error " .. err.code) end)
r1:resume()
r1:wait("close")
print("client: stream " .. r1.id .. " reset with code " .. r1.rstCode .. "; the connection goes on")
local r2 = client:request({ [":path"] = "/ok" })
print("client: stream " .. r2.id .. " says " .. r2:readAll())
local r3 = client:request({ [":path"] = "/calm" })
r3:on("error", function() end)
r3:resume()
client:wait("close")
print("client: the session is " .. (client.destroyed and "destroyed" or "open"))
server:close()
