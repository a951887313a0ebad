-- Tour 6: HPACK. Header fields are compressed against a static table and a
-- dynamic table each side builds as it goes: the same request again costs
-- a few bytes. A sensitive field is sent never-indexed.
--   h2lua --trace docs/tour/06-hpack.lua
local http2 = require "http2"

local server = http2.createServer()
server:on("stream", function(stream)
  stream:respond({ [":status"] = 200, ["x-served-by"] = "h2lua tour" })
  stream:finish()
end)
server:listen(0, "127.0.0.1")
server:wait("listening")

local client = http2.connect("http://127.0.0.1:" .. server:address().port)
local function get(extra)
  local h = { [":path"] = "/hpack", ["user-agent"] = "h2lua-tour/1.0", accept = "text/plain" }
  for k, v in pairs(extra or {}) do h[k] = v end
  local req = client:request(h)
  req:readAll()
  req:wait("close")
end
get()
get()
get({ authorization = "Bearer secret", [http2.sensitiveHeaders] = { "authorization" } })
print("client: three requests; see how the HEADERS frames shrink")
client:close()
server:close()
