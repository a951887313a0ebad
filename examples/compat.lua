-- The Compatibility API: an HTTP/1-style (req, res) handler, served over
-- h2c and, with allowHTTP1, over HTTP/1.1 on the same port.
--   h2lua examples/compat.lua [port]
--   curl --http2-prior-knowledge http://127.0.0.1:8080/hi
--   curl --http1.1 http://127.0.0.1:8080/hi ; curl --http2 http://127.0.0.1:8080/hi  (Upgrade)
local http2 = require "http2"
local json = require "h2lua.json"

local port = tonumber(arg and arg[1]) or 8080
local server = http2.createServer({ allowHTTP1 = true }, function(req, res)
  if req.method == "POST" then
    local body, err = json.decode(req:readAll() or "")
    if not body then
      res.statusCode = 400
      res:finish(json.encode({ error = err }))
      return
    end
    res:setHeader("content-type", "application/json")
    res:finish(json.encode({ received = body }))
    return
  end
  res:setHeader("content-type", "text/plain")
  res:setHeader("x-powered-by", "h2lua")
  res:writeHead(200)
  res:finish(("hello %s over HTTP/%s\n"):format(req.url, req.httpVersion))
end)
server:listen(port, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
