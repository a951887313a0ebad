-- One h2lua instance behind HAProxy (docs/deploy.md): h2c on loopback,
-- GET /healthz for the balancer's health check, the rest the application.
-- Run: PORT=8081 NAME=a h2lua examples/haproxy/app.lua
local http2 = require "http2"

local name = os.getenv("NAME") or "app"
local port = tonumber(os.getenv("PORT") or "8081")

local server = http2.createServer()
server:on("stream", function(stream, headers)
  if headers[":path"] == "/healthz" then
    -- cheap, and true only while this process can serve: it stops
    -- answering once the listener closes (SIGTERM) or the process dies
    stream:respond({ [":status"] = 200, ["content-type"] = "text/plain", ["cache-control"] = "no-store" })
    stream:finish("ok\n")
    return
  end
  stream:respond({ [":status"] = 200, ["content-type"] = "text/plain", ["x-instance"] = name })
  stream:finish("hello from " .. name .. "\n")
end)
server:listen(port, "127.0.0.1", function()
  print("listening " .. server:address().port)
  io.stdout:flush()
end)
