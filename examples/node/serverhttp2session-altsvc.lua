-- serverhttp2session.altsvc() and the client's 'altsvc' event: ALTSVC
-- frames for an origin (on stream 0) and for one stream.
--   h2lua examples/node/serverhttp2session-altsvc.lua
local http2 = require "http2"

local server = http2.createServer()
server:on("session", function(session)
  -- Set altsvc for origin https://example.org:80
  session:altsvc('h2=":8000"', "https://example.org:80")
end)

server:on("stream", function(stream)
  -- Set altsvc for a specific stream
  stream.session:altsvc('h2=":8000"', stream.id)
  stream:respond({ [":status"] = 200 })
  stream:finish()
end)

server:listen(0, "127.0.0.1", function()
  local client = http2.connect("http://127.0.0.1:" .. server:address().port)
  local seen = 0
  client:on("altsvc", function(alt, origin, streamId)
    print(alt)
    print(origin)
    print(streamId)
    seen = seen + 1
    if seen == 2 then
      client:close()
      server:close()
    end
  end)
  client:request({ [":path"] = "/" }):resume()
end)
