-- response.socket (and request.socket): the peer's address.
--   h2lua examples/node/response-socket.lua [port]
--   curl --http2-prior-knowledge http://127.0.0.1:3000/
local http2 = require "http2"
local server = http2.createServer(function(req, res)
  local ip = req.socket.remoteAddress
  local port = req.socket.remotePort
  res:finish(("Your IP address is %s and your source port is %d."):format(ip, port))
end)
server:listen(tonumber(arg[1]) or 3000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
