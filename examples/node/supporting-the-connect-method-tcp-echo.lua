-- Supporting the CONNECT method, the target: a TCP server that reads a
-- name until the end of the input and answers "hello NAME".
--   h2lua examples/node/supporting-the-connect-method-tcp-echo.lua [port]
--   printf Jane | nc -N 127.0.0.1 8000
local net = require("h2lua").net

local server = net.createServer(function(socket)
  local name = ""
  socket:on("data", function(chunk) name = name .. chunk end)
  socket:on("end", function() socket:finish("hello " .. name) end)
end)

server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on tcp://127.0.0.1:%d"):format(server:address().port))
  io.stdout:flush()
end)
