-- response.getHeader(), getHeaderNames(), getHeaders(), hasHeader(),
-- removeHeader(), setHeader() and statusCode: the headers of a response
-- before they go out. The body tells what the calls returned.
--   h2lua examples/node/response-headers.lua [port]
--   curl --http2-prior-knowledge -i http://127.0.0.1:8000/
local http2 = require "http2"

local server = http2.createServer(function(request, response)
  response:setHeader("Content-Type", "text/html; charset=utf-8")
  response:setHeader("Foo", "bar")
  response:setHeader("Set-Cookie", { "type=ninja", "language=javascript" })
  response:setHeader("Content-Encoding", "identity")
  response:removeHeader("Content-Encoding")

  local contentType = response:getHeader("content-type")
  local headerNames = response:getHeaderNames()
  table.sort(headerNames)
  local headers = response:getHeaders()
  local hasContentType = response:hasHeader("content-type")

  if request.url == "/missing" then response.statusCode = 404 end
  response:finish(table.concat({
    "getHeader: " .. contentType,
    "getHeaderNames: " .. table.concat(headerNames, ","),
    "getHeaders set-cookie: " .. table.concat(headers["set-cookie"], "; "),
    "hasHeader: " .. tostring(hasContentType),
    "hasHeader content-encoding: " .. tostring(response:hasHeader("content-encoding")),
  }, "\n") .. "\n")
end)
server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
