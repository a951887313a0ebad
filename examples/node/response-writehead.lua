-- response.writeHead(): the status and headers at once, with a
-- content-length of the body's bytes.
--   h2lua examples/node/response-writehead.lua [port]
--   curl --http2-prior-knowledge -i http://127.0.0.1:8000/
local http2 = require "http2"
local server = http2.createServer(function(request, response)
  local body = "hello world"
  response:writeHead(200, {
    ["Content-Length"] = #body,
    ["Content-Type"] = "text/plain; charset=utf-8",
  })
  response:finish(body)
end)
server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
