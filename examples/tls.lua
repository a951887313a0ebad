-- HTTP/2 over TLS. Make a self-signed certificate first (one line):
--   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1
--   h2lua examples/tls.lua [port] [cert.pem] [key.pem]
--   curl --http2 --cacert cert.pem https://localhost:8443/
local http2 = require "http2"

local port = tonumber(arg and arg[1]) or 8443
local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local server = http2.createSecureServer({
  cert = read(arg and arg[2] or "cert.pem"),
  key = read(arg and arg[3] or "key.pem"),
})
server:on("stream", function(stream)
  local sock = stream.session.socket
  stream:respond({ [":status"] = 200, ["content-type"] = "text/plain" })
  stream:finish(("hello over %s, %s, %s\n"):format(stream.session.alpnProtocol,
    sock.getProtocol(), sock.getCipher().name))
end)
server:listen(port, "127.0.0.1", function()
  print(("listening on https://localhost:%d/"):format(server:address().port))
  io.stdout:flush()
end)
