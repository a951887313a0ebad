-- Core API, client-side example: GET / over TLS, print the response
-- headers, then the body.
--   h2lua examples/node/client-side-example.lua [https://localhost:8443] [localhost-cert.pem]
local http2 = require "http2"

local function readFileSync(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local client = http2.connect(arg[1] or "https://localhost:8443", {
  ca = readFileSync(arg[2] or "localhost-cert.pem"),
})
client:on("error", function(err) io.stderr:write(tostring(err.message), "\n") end)

local req = client:request({ [":path"] = "/" })

req:on("response", function(headers, flags)
  local names = {}
  for name in pairs(headers) do
    if type(name) == "string" then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do print(("%s: %s"):format(name, headers[name])) end
end)

local data = {}
req:on("data", function(chunk) data[#data + 1] = chunk end)
req:on("end", function()
  print("\n" .. table.concat(data))
  client:close()
end)
req:finish()
