-- Sensitive headers: fields named in [http2.sensitiveHeaders] are sent as
-- never-indexed literals, which HPACK keeps out of its tables (and which
-- proxies must forward the same way). Run with --trace to see them:
--   h2lua --trace examples/node/sensitive-headers.lua [port]
--   nghttp http://127.0.0.1:8000/
-- the trace's HEADERS frame shows "cookie: some-cookie  ; never indexed".
local http2 = require "http2"

local server = http2.createServer()
server:on("stream", function(stream)
  local headers = {
    [":status"] = "200",
    ["content-type"] = "text-plain",
    ["cookie"] = "some-cookie",
    ["other-sensitive-header"] = "very secret data",
    [http2.sensitiveHeaders] = { "cookie", "other-sensitive-header" },
  }
  stream:respond(headers)
  stream:finish()
end)
server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
