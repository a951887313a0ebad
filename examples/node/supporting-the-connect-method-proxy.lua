-- Supporting the CONNECT method, the proxy: a CONNECT request opens a TCP
-- connection to its :authority and the stream carries its bytes both ways.
-- Anything else is refused (RST_STREAM REFUSED_STREAM).
--   h2lua examples/node/supporting-the-connect-method-proxy.lua [port]
local http2 = require "http2"
local net = require("h2lua").net
local C = http2.constants

local proxy = http2.createServer()
proxy:on("stream", function(stream, headers)
  if headers[":method"] ~= "CONNECT" then
    -- Only accept CONNECT requests
    stream:close(C.NGHTTP2_REFUSED_STREAM)
    return
  end
  local host, port = headers[":authority"]:match("^%[?(.-)%]?:(%d+)$")
  -- It's a very good idea to verify that hostname and port are things
  -- this proxy should be connecting to: here, loopback only.
  if host ~= "127.0.0.1" and host ~= "localhost" then
    stream:close(C.NGHTTP2_REFUSED_STREAM)
    return
  end
  local socket
  socket = net.connect(tonumber(port), host, function()
    stream:respond()
    socket:pipe(stream)
    stream:pipe(socket)
  end)
  socket:on("error", function(err)
    stream:close(C.NGHTTP2_CONNECT_ERROR)
  end)
end)

proxy:listen(tonumber(arg[1]) or 8001, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(proxy:address().port))
  io.stdout:flush()
end)
