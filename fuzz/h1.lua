-- The fuzz target "h1": a plaintext server that allows HTTP/1.1 (the first
-- bytes decide: HTTP/1.1, an h2c upgrade, or the HTTP/2 preface), with a
-- Compatibility API handler, the only one HTTP/1.1 requests reach.
local http2 = require "http2"
local F = require "common"
local guard, noop = F.guard, F.noop

-- Node's defaults, and small limits (an input of odd length goes there)
local servers = {
  http2.createServer({ allowHTTP1 = true }),
  http2.createServer({ allowHTTP1 = true, maxHeaderListPairs = 8, maxSessionMemory = 1,
    settings = { maxHeaderListSize = 400, maxConcurrentStreams = 2, initialWindowSize = 100 } }),
}
for _, server in ipairs(servers) do
  server:on("error", noop)
  server:on("session", function(session) session:on("error", noop) end)
end

local handlers = {}

handlers["/"] = function(req, res)
  res:setHeader("content-type", "text/plain")
  res:finish("hello")
end

handlers["/echo"] = function(req, res)
  local body = req:readAll() or ""
  res:writeHead(200, { ["x-len"] = #body })
  res:addTrailers({ ["x-sum"] = tostring(#body) })
  res:finish(body)
end

handlers["/chunks"] = function(req, res)
  res:writeHead(200)
  for _ = 1, 1000 do
    local chunk = req:read()
    if chunk == nil then break end
    res:write(chunk)
  end
  res:finish()
end

handlers["/big"] = function(req, res)
  res:writeHead(200, { ["content-length"] = 4 * 65536 })
  local chunk = string.rep("x", 65536)
  for _ = 1, 4 do
    if not res:write(chunk) then
      if not res.stream:wait("drain") then return end
    end
  end
  res:finish()
end

handlers["/continue"] = function(req, res)
  res:writeContinue()
  res:finish(req:readAll() or "")
end

handlers["/hints"] = function(req, res)
  res:writeEarlyHints({ link = "</x>; rel=preload" })
  res:finish("hinted")
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

handlers["/destroy"] = function(req, res)
  req:destroy()
end

local function on_request(req, res)
  req:on("error", noop)
  res:on("error", noop)
  local path = req.url
  F.trace("request", req.method, path, req.httpVersion)
  if path == "/err" then error(F.MARK .. ": a handler error answers 500") end
  local h = handlers[path] or function(_, r)
    r.statusCode = 404
    r:finish()
  end
  guard(h, req, res)
end
for _, server in ipairs(servers) do server:on("request", on_request) end

function _G.fuzz_setup()
  for _, server in ipairs(servers) do
    server:listen(0, "127.0.0.1", function() server:unref() end)
  end
  return 0
end

function _G.fuzz_port(size)
  return servers[size % 2 + 1]:address().port
end

function _G.fuzz_one() return 0 end
