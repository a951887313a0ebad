-- 'timeout': no activity on the session for the set time.
--   h2lua examples/node/http2session-timeout.lua
local http2 = require "http2"

local server = http2.createServer()
server:listen(0, "127.0.0.1", function()
  local session = http2.connect("http://127.0.0.1:" .. server:address().port)
  local t0 = require("h2lua").now()
  session:setTimeout(200)
  session:on("timeout", function()
    local quiet = require("h2lua").now() - t0
    print(("timeout: %s 200 ms without a byte either way"):format(quiet >= 190 and "over" or "before"))
    session:close()
    server:close()
  end)
end)
