-- Core API, server-side example: an HTTP/2 server over TLS.
--   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
--     -keyout localhost-privkey.pem -out localhost-cert.pem -days 30 \
--     -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1
--   h2lua examples/node/server-side-example.lua [port] [cert.pem] [key.pem]
--   curl --http2 --cacert localhost-cert.pem https://localhost:8443/
local http2 = require "http2"

local function readFileSync(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local server = http2.createSecureServer({
  key = readFileSync(arg[3] or "localhost-privkey.pem"),
  cert = readFileSync(arg[2] or "localhost-cert.pem"),
})
server:on("error", function(err) io.stderr:write(tostring(err.message), "\n") end)

server:on("stream", function(stream, headers)
  -- stream is a Duplex
  stream:respond({
    ["content-type"] = "text/html; charset=utf-8",
    [":status"] = 200,
  })
  stream:finish("<h1>Hello World</h1>")
end)

server:listen(tonumber(arg[1]) or 8443, function()
  print(("listening on https://localhost:%d/"):format(server:address().port))
  io.stdout:flush()
end)
