-- Collecting HTTP/2 performance metrics: a PerformanceObserver gets an
-- entry per stream and per session as they close.
--   h2lua examples/node/collecting-http2-performance-metrics.lua
local h2lua = require "h2lua"
local http2 = require "http2"

local seen = {}
local obs = h2lua.PerformanceObserver.new(function(items)
  local entry = items:getEntries()[1]
  print(entry.entryType) -- prints 'http2'
  if entry.name == "Http2Session" then
    -- Entry contains statistics about the Http2Session
    seen[#seen + 1] = ("Http2Session %s: %d frames received"):format(entry.type, entry.framesReceived)
  elseif entry.name == "Http2Stream" then
    -- Entry contains statistics about the Http2Stream
    seen[#seen + 1] = ("Http2Stream %d: %d bytes written"):format(entry.id, entry.bytesWritten)
  end
end)
obs:observe({ entryTypes = { "http2" } })

local server = http2.createServer()
server:on("stream", function(stream)
  stream:respond({ [":status"] = 200 })
  stream:finish("twelve bytes")
end)
server:listen(0, "127.0.0.1", function()
  local client = http2.connect("http://127.0.0.1:" .. server:address().port)
  local req = client:request({ [":path"] = "/" })
  req:resume()
  req:on("close", function()
    client:close()
    server:close()
  end)
end)
server:on("close", function()
  h2lua.setTimeout(function()
    table.sort(seen)
    for _, line in ipairs(seen) do print(line) end
    obs:disconnect()
  end, 50)
end)
