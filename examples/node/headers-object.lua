-- Headers object: a field with several values goes out as several
-- fields; the request's headers arrive as a table with lower-case names.
--   h2lua examples/node/headers-object.lua [port]
--   curl --http2-prior-knowledge -i -H 'ABC: one' http://127.0.0.1:8000/some/path
local http2 = require "http2"

local server = http2.createServer()
server:on("stream", function(stream, headers)
  print(headers[":path"])
  print(headers.abc) -- HTTP/2 field names are lower case
  io.stdout:flush()
  local out = {
    [":status"] = "200",
    ["content-type"] = "text-plain",
    ["ABC"] = { "has", "more", "than", "one", "value" },
  }
  stream:respond(out)
  stream:finish()
end)
server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
