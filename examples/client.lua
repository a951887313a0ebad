-- A tiny nghttp: GET (or POST with -d) a URL over h2c, print the status,
-- the response headers and the body.
--   h2lua examples/client.lua http://127.0.0.1:8080/ [-d DATA | -d @FILE] [-H 'name: value']...
local http2 = require "http2"

local url = arg[1]
if not url then
  io.stderr:write("usage: h2lua examples/client.lua URL [-d DATA|@FILE] [-H 'name: value']...\n")
  os.exit(2)
end
local headers, body = {}, nil
local i = 2
while arg[i] do
  if arg[i] == "-d" then
    body = arg[i + 1]
    if body and body:sub(1, 1) == "@" then
      local f = assert(io.open(body:sub(2), "rb"))
      body = f:read("a")
      f:close()
    end
    i = i + 2
  elseif arg[i] == "-H" then
    local name, value = (arg[i + 1] or ""):match("^%s*([^:]+):%s*(.*)$")
    if name then headers[name:lower()] = value end
    i = i + 2
  else
    io.stderr:write("unknown option ", arg[i], "\n")
    os.exit(2)
  end
end

local origin, path = url:match("^(%a[%w+.-]*://[^/?#]+)(.*)$")
if not origin then
  io.stderr:write("not a URL: ", url, "\n")
  os.exit(2)
end
headers[":path"] = path ~= "" and path or "/"
headers[":method"] = body and "POST" or "GET"

local session = http2.connect(origin)
session:on("error", function(err)
  io.stderr:write("error: ", tostring(err), "\n")
  os.exit(1)
end)
local req = session:request(headers, { endStream = body == nil })
if body then req:finish(body) end
local response = req:wait("response", 30000)
if not response then
  session:wait("close", 1000) -- a connection error is reported by 'error'
  io.stderr:write("no response (", tostring(req.rstCode or "timeout"), ")\n")
  session:destroy()
  os.exit(1)
end
print(":status: " .. response[":status"])
for name, value in pairs(response) do
  if name ~= ":status" and type(name) == "string" then
    if type(value) == "table" then value = table.concat(value, ", ") end
    print(name .. ": " .. value)
  end
end
print()
io.write(req:readAll() or "")
session:close()
