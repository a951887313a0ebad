-- The ALPN example of the Node.js document: one TLS port for HTTP/2 and
-- HTTP/1.1, the same handler answering JSON with what was negotiated.
--   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
--     -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost \
--     -addext subjectAltName=DNS:localhost,IP:127.0.0.1
--   h2lua examples/both-protocols.lua [port] [cert.pem] [key.pem]
--   curl -k --http2 https://localhost:8443/ ; curl -k --http1.1 https://localhost:8443/
local http2 = require "http2"
local json = require "h2lua.json"

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
  allowHTTP1 = true,
}, function(req, res)
  -- HTTP/2 requests know their session; HTTP/1.1 ones only their socket
  local alpn = req.httpVersion == "2.0" and req.stream.session.alpnProtocol
    or req.socket.alpnProtocol
  res:writeHead(200, { ["content-type"] = "application/json" })
  res:finish(json.encode({ alpnProtocol = alpn, httpVersion = req.httpVersion }))
end)
server:listen(port, "127.0.0.1", function()
  print(("listening on https://localhost:%d/"):format(server:address().port))
  io.stdout:flush()
end)
