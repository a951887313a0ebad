-- http2stream.setTimeout(): cancel a request that sees no activity (the
-- server here never answers /slow).
--   h2lua examples/node/http2stream-settimeout.lua
local http2 = require "http2"
local NGHTTP2_CANCEL = http2.constants.NGHTTP2_CANCEL

local server = http2.createServer()
server:on("stream", function(stream) end) -- never answers

server:listen(0, "127.0.0.1", function()
  local client = http2.connect("http://127.0.0.1:" .. server:address().port)
  local req = client:request({ [":path"] = "/slow" })
  -- Cancel the stream if there's no activity after 300 ms (5 s in Node's)
  req:setTimeout(300, function() req:close(NGHTTP2_CANCEL) end)
  req:on("close", function()
    print("closed with rstCode " .. req.rstCode .. " (NGHTTP2_CANCEL is " .. NGHTTP2_CANCEL .. ")")
    client:close()
    server:close()
  end)
end)
