-- Supporting the CONNECT method, the client: a tunnel through the proxy
-- to the TCP target; send a name, print the answer.
--   h2lua examples/node/supporting-the-connect-method-client.lua [http://127.0.0.1:8001] [127.0.0.1:8000]
local http2 = require "http2"

local client = http2.connect(arg[1] or "http://127.0.0.1:8001")

-- Must not specify the ':path' and ':scheme' headers for CONNECT
-- requests or an error will be raised.
local req = client:request({
  [":method"] = "CONNECT",
  [":authority"] = arg[2] or "127.0.0.1:8000",
})

req:on("response", function(headers)
  print(headers[http2.constants.HTTP2_HEADER_STATUS])
end)
local data = ""
req:on("data", function(chunk) data = data .. chunk end)
req:on("end", function()
  print("The server says: " .. data)
  client:close()
end)
req:finish("Jane")
