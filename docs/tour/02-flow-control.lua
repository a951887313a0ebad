-- Tour 2: flow control and windows. The server allows 16 KiB per stream
-- (initialWindowSize); the client sends 50000 bytes; the server reads them
-- slowly, and each read gives window back (WINDOW_UPDATE).
--   h2lua --trace docs/tour/02-flow-control.lua
local h2lua = require "h2lua"
local http2 = require "http2"

local server = http2.createServer({ settings = { initialWindowSize = 16384 } })
server:on("stream", function(stream)
  local got = 0
  while true do
    h2lua.sleep(20) -- a slow reader: the client waits for window meanwhile
    local chunk = stream:read()
    if not chunk then break end
    got = got + #chunk
    print(("server: read %d bytes (%d in all), window %d"):format(#chunk, got,
      stream.state.localWindowSize or -1))
  end
  stream:respond({ [":status"] = 200 })
  stream:finish(("got %d bytes\n"):format(got))
end)
server:listen(0, "127.0.0.1")
server:wait("listening")

local client = http2.connect("http://127.0.0.1:" .. server:address().port)
-- until the server's SETTINGS arrive, a stream may take 65535 bytes (the
-- protocol's default): wait for them, to see the server's window at work
client:wait("remoteSettings")
local req = client:request({ [":path"] = "/upload", [":method"] = "POST" })
req:finish(("x"):rep(50000))
print("client: " .. req:readAll())
client:close()
server:close()
