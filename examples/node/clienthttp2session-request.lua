-- clienthttp2session.request(): GET / and print the :status.
--   h2lua examples/node/clienthttp2session-request.lua [http://127.0.0.1:8000]
local http2 = require "http2"
local clientSession = http2.connect(arg[1] or "http://127.0.0.1:8000")
local HTTP2_HEADER_PATH = http2.constants.HTTP2_HEADER_PATH
local HTTP2_HEADER_STATUS = http2.constants.HTTP2_HEADER_STATUS

local req = clientSession:request({ [HTTP2_HEADER_PATH] = "/" })
req:on("response", function(headers)
  print(headers[HTTP2_HEADER_STATUS])
  local size = 0
  req:on("data", function(chunk) size = size + #chunk end)
  req:on("end", function()
    print(size .. " bytes of body")
    clientSession:close()
  end)
end)
