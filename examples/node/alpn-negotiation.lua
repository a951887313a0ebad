-- ALPN negotiation: one TLS port for HTTP/2 and HTTP/1.1 (allowHTTP1);
-- the answer says which the client got.
--   h2lua examples/node/alpn-negotiation.lua [port] [cert.pem] [key.pem]
--   curl --http1.1 --cacert cert.pem https://localhost:4443/
--   curl --http2 --cacert cert.pem https://localhost:4443/
local http2 = require "http2"
local json = require "h2lua.json"

local function readFileSync(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
local cert = readFileSync(arg[2] or "./cert.pem")
local key = readFileSync(arg[3] or "./key.pem")

local function onRequest(req, res)
  -- Detects if it is a HTTPS request or HTTP/2
  local alpnProtocol = (req.httpVersion == "2.0" and req.stream.session or req).socket.alpnProtocol
  res:writeHead(200, { ["content-type"] = "application/json" })
  res:finish(json.encode({
    alpnProtocol = alpnProtocol,
    httpVersion = req.httpVersion,
  }))
end

local server = http2.createSecureServer({ cert = cert, key = key, allowHTTP1 = true }, onRequest)
server:listen(tonumber(arg[1]) or 4443, "127.0.0.1", function()
  print(("listening on https://localhost:%d/"):format(server:address().port))
  io.stdout:flush()
end)
