-- request.headers, request.rawHeaders, request.url: what a request
-- carries, printed by the server and sent back as JSON.
--   h2lua examples/node/request-headers.lua [port]
--   curl --http2-prior-knowledge 'http://127.0.0.1:8000/status?name=ryan'
local http2 = require "http2"
local json = require "h2lua.json"

local server = http2.createServer(function(request, response)
  local names = {}
  for name in pairs(request.headers) do
    if type(name) == "string" then names[#names + 1] = name end
  end
  table.sort(names)
  local shown = {}
  for _, name in ipairs(names) do shown[#shown + 1] = name .. ": " .. tostring(request.headers[name]) end
  print(table.concat(shown, "\n"))
  io.stdout:flush()
  response:setHeader("content-type", "application/json")
  response:finish(json.encode({
    url = request.url,                 -- '/status?name=ryan'
    rawHeaders = request.rawHeaders,   -- name, value, name, value, ...
    userAgent = request.headers["user-agent"],
  }))
end)
server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
