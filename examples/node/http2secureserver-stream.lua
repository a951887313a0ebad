-- Http2SecureServer 'stream': the same over TLS.
--   h2lua examples/node/http2secureserver-stream.lua [port] [server-cert.pem] [server-key.pem]
--   curl --http2 --cacert server-cert.pem https://localhost:8443/
local http2 = require "http2"

local function readFileSync(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local options = {
  key = readFileSync(arg[3] or "server-key.pem"),
  cert = readFileSync(arg[2] or "server-cert.pem"),
}

-- Create a secure HTTP/2 server
local server = http2.createSecureServer(options)

server:on("stream", function(stream, headers, flags)
  local C = http2.constants
  local method = headers[C.HTTP2_HEADER_METHOD]
  local path = headers[C.HTTP2_HEADER_PATH]
  -- ...
  stream:respond({
    [C.HTTP2_HEADER_STATUS] = 200,
    [C.HTTP2_HEADER_CONTENT_TYPE] = "text/plain; charset=utf-8",
  })
  stream:write("hello ")
  stream:finish("world")
end)

server:listen(tonumber(arg[1]) or 8443, "127.0.0.1", function()
  print(("listening on https://localhost:%d/"):format(server:address().port))
  io.stdout:flush()
end)
