-- http2.createSecureServer(): an HTTP/2 server over TLS.
--   h2lua examples/node/http2-createsecureserver.lua [port] [server-cert.pem] [server-key.pem]
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
  stream:respond({
    ["content-type"] = "text/html; charset=utf-8",
    [":status"] = 200,
  })
  stream:finish("<h1>Hello World</h1>")
end)

server:listen(tonumber(arg[1]) or 8443, "127.0.0.1", function()
  print(("listening on https://localhost:%d/"):format(server:address().port))
  io.stdout:flush()
end)
