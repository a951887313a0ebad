-- Compatibility API (and response.setHeader / response.writeHead): a
-- handler of (req, res) as Node's http module has it. The headers given to
-- writeHead win over those set before: content-type is text/plain.
--   h2lua examples/node/compatibility-api.lua [port]
--   curl --http2-prior-knowledge -i http://127.0.0.1:8000/
local http2 = require "http2"
local server = http2.createServer(function(req, res)
  res:setHeader("Content-Type", "text/html")
  res:setHeader("X-Foo", "bar")
  res:writeHead(200, { ["Content-Type"] = "text/plain; charset=utf-8" })
  res:finish("ok")
end)
server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
