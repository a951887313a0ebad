-- http2stream.respondWithFD(): a file already open as the body (this
-- script's own source unless a path is given); /trailers adds trailers.
--   h2lua examples/node/http2stream-respondwithfd.lua [port] [file]
--   curl --http2-prior-knowledge -i http://127.0.0.1:8000/
local http2 = require "http2"
local file = arg[2] or arg[0]

local server = http2.createServer()
server:on("stream", function(stream, headers)
  local fd = assert(io.open(file, "rb")) -- a Lua file stands for the fd
  local size = fd:seek("end")
  fd:seek("set", 0)
  local headers_out = {
    ["content-length"] = size,
    ["content-type"] = "text/plain; charset=utf-8",
  }
  if headers[":path"] == "/trailers" then
    stream:respondWithFD(fd, headers_out, { waitForTrailers = true })
    stream:on("wantTrailers", function()
      stream:sendTrailers({ ABC = "some value to send" })
    end)
  else
    stream:respondWithFD(fd, headers_out)
  end
  stream:on("close", function() fd:close() end)
end)
server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
