-- http2stream.respond(): headers, then a body; with waitForTrailers the
-- trailers go after it (/trailers).
--   h2lua examples/node/http2stream-respond.lua [port]
--   nghttp -v http://127.0.0.1:8000/trailers
local http2 = require "http2"
local server = http2.createServer()
server:on("stream", function(stream, headers)
  if headers[":path"] == "/trailers" then
    stream:respond({ [":status"] = 200 }, { waitForTrailers = true })
    stream:on("wantTrailers", function()
      stream:sendTrailers({ ABC = "some value to send" })
    end)
    stream:finish("some data")
  else
    stream:respond({ [":status"] = 200 })
    stream:finish("some data")
  end
end)
server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
