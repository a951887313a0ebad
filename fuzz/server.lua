-- The fuzz target "server" (and the HTTP/2 half of "h1"): an h2c server
-- whose handler does what handlers do, chosen by the path, so the
-- fuzzer's frames reach every part of the stream and session API.
local http2 = require "http2"
local h2lua = require "h2lua"
local F = require "common"
local guard, noop = F.guard, F.noop

-- Two servers with one handler: Node's defaults, and limits small enough
-- for inputs to reach them (an input of odd length goes to this one).
local servers = {
  http2.createServer({ settings = { enablePush = true, enableConnectProtocol = true } }),
  http2.createServer({ settings = { enablePush = true, maxConcurrentStreams = 2,
      initialWindowSize = 100, maxHeaderListSize = 400, headerTableSize = 64 },
    maxSessionMemory = 1, maxHeaderListPairs = 8, maxSendHeaderBlockLength = 200,
    peerMaxConcurrentStreams = 2, maxSessionInvalidFrames = 3,
    maxSessionRejectedStreams = 2, maxSettings = 4, paddingStrategy = 1 }),
}
for _, server in ipairs(servers) do
  server:on("error", noop)
  server:on("session", function(session)
    session:on("error", noop)
    session:on("frameError", noop)
    session:on("goaway", noop)
    session:on("remoteSettings", noop)
  end)
end

local big = string.rep("0123456789abcdef", 4096) -- 64 KiB

local handlers = {}

handlers["/"] = function(stream)
  stream:respond({ [":status"] = 200, ["content-type"] = "text/plain" })
  stream:finish("hello")
end

-- the body, then trailers
handlers["/echo"] = function(stream, headers)
  local body = stream:readAll() or ""
  stream:respond({ [":status"] = 200, ["x-len"] = #body }, { waitForTrailers = true })
  stream:on("wantTrailers", function()
    guard(function() stream:sendTrailers({ ["x-sum"] = tostring(#body) }) end)
  end)
  stream:finish(body)
end

-- chunks read one by one, answered as they come
handlers["/chunks"] = function(stream)
  stream:respond({ [":status"] = 200 })
  for _ = 1, 1000 do
    local chunk = stream:read()
    if chunk == nil then break end
    if not stream:write(chunk) then stream:wait("drain") end
  end
  stream:finish()
end

-- more than one window: waits for the peer's WINDOW_UPDATE (or the close)
handlers["/big"] = function(stream)
  stream:respond({ [":status"] = 200 })
  for _ = 1, 4 do
    if not stream:write(big) then
      if not stream:wait("drain") then return end
    end
  end
  stream:finish()
end

handlers["/push"] = function(stream)
  stream:respond({ [":status"] = 200 })
  if stream.pushAllowed then
    local err, push = stream:pushStream({ [":path"] = "/pushed" })
    if not err then
      push:on("error", noop)
      guard(function()
        push:respond({ [":status"] = 200 })
        push:finish("pushed")
      end)
    end
  end
  stream:finish("with a push")
end

handlers["/info"] = function(stream)
  stream:additionalHeaders({ [":status"] = 103, link = "</x>; rel=preload" })
  stream:respond({ [":status"] = 204 }, { endStream = true })
end

handlers["/rst"] = function(stream)
  stream:close(http2.constants.NGHTTP2_CANCEL)
end

handlers["/ping"] = function(stream)
  local session = stream.session
  stream:respond({ [":status"] = 200 })
  session:ping("12345678", noop)
  session:settings({ initialWindowSize = 1000 }, noop)
  stream:finish("pong")
end

handlers["/goaway"] = function(stream)
  stream:respond({ [":status"] = 200 })
  stream:finish("bye")
  stream.session:goaway(http2.constants.NGHTTP2_NO_ERROR)
end

-- A WebSocket echo (h2lua.websocket): "close" closes, "ping" pings
local websocket = require "h2lua.websocket"
local function ws_echo(a, b)
  local ws = websocket.accept(a, b, { maxPayload = 4096, fragmentSize = 100 })
  if not ws then return end
  while true do
    local data, kind = ws:receive()
    if not data then break end
    ws:send(data, kind == "binary")
    if data == "close" then ws:close(1000, "bye") end
    if data == "ping" then ws:ping("p") end
  end
end
handlers["/ws"] = ws_echo

handlers["/destroy"] = function(stream)
  stream.session:destroy()
end

local function on_stream(stream, headers)
  stream:on("error", noop)
  stream:on("aborted", noop)
  local path = headers[":path"]
  F.trace("stream", headers[":method"], path)
  if path == "/err" then error(F.MARK .. ": a handler error answers 500") end
  local h = handlers[path] or function(st)
    st:respond({ [":status"] = 404 })
    st:finish()
  end
  guard(h, stream, headers)
end
for _, server in ipairs(servers) do server:on("stream", on_stream) end

function _G.fuzz_setup()
  for _, server in ipairs(servers) do
    server:listen(0, "127.0.0.1", function() server:unref() end)
  end
  return 0
end

-- the port of the server for an input of |size| bytes
function _G.fuzz_port(size)
  return servers[size % 2 + 1]:address().port
end

function _G.fuzz_one() return 0 end
