-- The hello server over TLS (h2 by ALPN), for bench/hello.sh and
-- bench/callgrind.sh: the same handler as examples/hello.lua.
--   h2lua bench/hello_tls.lua PORT KEY.pem CERT.pem
local http2 = require "http2"

local port, key_path, cert_path = tonumber(arg and arg[1]), arg and arg[2], arg and arg[3]
if not (port and key_path and cert_path) then
  io.stderr:write("usage: h2lua bench/hello_tls.lua PORT KEY.pem CERT.pem\n")
  os.exit(2)
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local server = http2.createSecureServer({ key = read(key_path), cert = read(cert_path) })
server:on("stream", function(stream, headers)
  stream:respond({ [":status"] = 200, ["content-type"] = "text/plain" })
  stream:finish("hello world\n")
end)
server:listen(port, "127.0.0.1", function()
  print(("listening on https://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
