-- http2.getPackedSettings(): the payload of a SETTINGS frame as bytes.
--   h2lua examples/node/http2-getpackedsettings.lua
local http2 = require "http2"

local function base64(s)
  local abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return (s:gsub("..?.?", function(c)
    local a, b, d = c:byte(1, 3)
    local n = (a << 16) | ((b or 0) << 8) | (d or 0)
    local out = {}
    for i = 1, 4 do
      out[i] = abc:sub(((n >> (6 * (4 - i))) & 63) + 1, ((n >> (6 * (4 - i))) & 63) + 1)
    end
    local pad = 3 - #c
    return table.concat(out, "", 1, 4 - pad) .. ("="):rep(pad)
  end))
end

local packed = http2.getPackedSettings({ enablePush = false })

print(base64(packed))
-- Prints: AAIAAAAA
