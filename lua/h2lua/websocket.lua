-- h2lua.websocket: WebSocket server connections (RFC 6455) over an
-- HTTP/2 extended CONNECT stream (RFC 8441; the server advertises
-- settings.enableConnectProtocol) or an HTTP/1.1 "Upgrade: websocket"
-- request, with one API for both: text and binary messages, fragments,
-- ping/pong, close codes, a message size limit, ws:receive() in a
-- coroutine and events. docs/websocket.md has the whole of it.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local Emitter = require "h2lua.emitter"
local timers = require "h2lua.timers"
local core = sched.core

local pack, unpack, byte, concat = string.pack, string.unpack, string.byte, table.concat
local ws_mask = core.ws_mask
local utf8len = utf8.len

local M = {}

local WebSocket = Emitter.extend({})
WebSocket.__index = WebSocket
WebSocket.__name = "h2lua.WebSocket"
M.WebSocket = WebSocket

M.DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024
local live = setmetatable({}, { __mode = "k" }) -- open sockets, for shutdown
local QUEUE_MESSAGES = 16     -- messages waiting for receive() before reading pauses
local CLOSE_TIMEOUT = 5000    -- ms the closing handshake may take

-- The close codes an endpoint may send (RFC 6455 7.4.1; 1004-1006 and
-- 1015 never go on the wire; 3000-4999 belong to applications).
local function valid_code(code)
  return (code >= 1000 and code <= 1003) or (code >= 1007 and code <= 1014) or
    (code >= 3000 and code <= 4999)
end

local function header(headers, name)
  local v = headers[name]
  if type(v) == "table" then v = concat(v, ",") end
  return v
end

local function has_token(v, token)
  if type(v) ~= "string" then return false end
  for t in v:gmatch("[^,]+") do
    if t:match("^%s*(.-)%s*$"):lower() == token then return true end
  end
  return false
end

-- websocket.isRequest(headers) -> whether the request asks for a
-- WebSocket: an extended CONNECT with :protocol websocket (HTTP/2) or a
-- GET with Upgrade: websocket (HTTP/1.1).
function M.isRequest(headers)
  if type(headers) ~= "table" then return false end
  local method = headers[":method"]
  if method == "CONNECT" then return headers[":protocol"] == "websocket" end
  return method == "GET" and has_token(header(headers, "upgrade"), "websocket")
end

-- The chosen subprotocol: options.protocols is a list in the server's
-- order of preference, or a function(offered list) -> name | nil.
local function choose(offered, protocols)
  if protocols == nil or offered == nil then return nil end
  local list = {}
  for t in offered:gmatch("[^,]+") do list[#list + 1] = t:match("^%s*(.-)%s*$") end
  if type(protocols) == "function" then
    local p = protocols(list)
    for _, v in ipairs(list) do if v == p then return p end end
    return nil
  end
  for _, want in ipairs(protocols) do
    for _, v in ipairs(list) do if v == want then return v end end
  end
  return nil
end

local function refuse(stream, status, why, extra)
  local h = { [":status"] = status, ["content-type"] = "text/plain" }
  if extra then for k, v in pairs(extra) do h[k] = v end end
  if not stream.headersSent and not stream.destroyed and not stream.closed then
    stream:respond(h)
    stream:finish(why .. "\n")
  end
  return nil, why
end

local function check_options(options)
  if options == nil then return {} end
  if type(options) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
  end
  local mp = options.maxPayload
  if mp ~= nil and (math.type(mp) ~= "integer" or mp < 0) then
    errors.raise("ERR_OUT_OF_RANGE", "options.maxPayload", "a non-negative integer", tostring(mp))
  end
  local fs = options.fragmentSize
  if fs ~= nil and (math.type(fs) ~= "integer" or fs < 1) then
    errors.raise("ERR_OUT_OF_RANGE", "options.fragmentSize", "a positive integer", tostring(fs))
  end
  return options
end

local reader

-- websocket.accept(stream, headers[, options]) or
-- websocket.accept(req, res[, options]) -> ws | nil, why. Answers the
-- handshake (200 on HTTP/2, 101 with Sec-WebSocket-Accept on HTTP/1.1),
-- or refuses it (400, 426 for another version; the stream is answered
-- and ended) and returns nil and the reason.
function M.accept(a, b, options)
  options = check_options(options)
  local stream, headers
  if type(a) == "table" and a.stream ~= nil and type(b) == "table" and b.writeHead then
    stream, headers = a.stream, a.headers -- the Compatibility API
  else
    stream, headers = a, b
  end
  if type(headers) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "headers", "of type table", errors.describe(headers))
  end
  local h1 = stream._h1 and true or false
  if not M.isRequest(headers) then return refuse(stream, 400, "not a WebSocket request") end
  if header(headers, "sec-websocket-version") ~= "13" then
    return refuse(stream, h1 and 426 or 400, "unsupported WebSocket version",
      { ["sec-websocket-version"] = "13" })
  end
  local protocol = choose(header(headers, "sec-websocket-protocol"), options.protocols)
  local extra = options.headers
  if h1 then
    -- what the engine's HTTP/1.1 layer took for a tunnel (src/h1.c): a
    -- GET of HTTP/1.1 asking for the upgrade, without a body
    local cl = headers["content-length"]
    if stream._http_version ~= "1.1" or not has_token(header(headers, "connection"), "upgrade") or
        (cl ~= nil and cl ~= "0") or headers["transfer-encoding"] ~= nil then
      return refuse(stream, 400, "not a WebSocket upgrade")
    end
    -- RFC 6455 4.2.1: a key is 16 random bytes in base64
    local key = header(headers, "sec-websocket-key")
    if type(key) ~= "string" or not key:match("^[%w+/]+==$") or #key ~= 24 then
      return refuse(stream, 400, "bad Sec-WebSocket-Key")
    end
    local flat = { "upgrade", "websocket", "connection", "Upgrade",
      "sec-websocket-accept", core.ws_accept(key) }
    if protocol then flat[#flat + 1] = "sec-websocket-protocol"; flat[#flat + 1] = protocol end
    if extra then
      for k, v in pairs(extra) do flat[#flat + 1] = k:lower(); flat[#flat + 1] = tostring(v) end
    end
    -- 101 is no status stream:respond() takes (Node's ERR_HTTP2_STATUS_101):
    -- the engine writes it for the tunnel its HTTP/1.1 layer keeps open
    if stream.headersSent or stream.destroyed then return nil, "stream answered already" end
    local ok = core.respond(stream, false, false, nil, ":status", "101", table.unpack(flat))
    if ok == nil then return refuse(stream, 400, "not a WebSocket upgrade") end -- no tunnel
    if not ok then return nil, "stream gone" end
    stream.headersSent = true
  else
    local h = { [":status"] = 200 }
    if protocol then h["sec-websocket-protocol"] = protocol end
    if extra then for k, v in pairs(extra) do h[k:lower()] = v end end
    stream:respond(h)
  end
  local ws = setmetatable({
    stream = stream, headers = headers, protocol = protocol,
    http = h1 and "http/1.1" or "h2", readyState = "open",
    maxPayload = options.maxPayload or M.DEFAULT_MAX_PAYLOAD,
    fragmentSize = options.fragmentSize, autoPong = options.autoPong ~= false,
    closeTimeout = options.closeTimeout or CLOSE_TIMEOUT,
    _events = false, _waiters = false,
    _buf = "", _pos = 1, _queue = {}, _qhead = 1, _qtail = 0, _qbytes = 0,
    _receiver = false, _reader_waits = false,
  }, WebSocket)
  stream:on("drain", function() ws:emit("drain") end)
  stream:on("close", function()
    local t = ws._kill_timer
    if t then ws._kill_timer = nil; timers.clearTimeout(t) end
    -- a reader held back by a full queue sees the end (and 'close' comes)
    local r = ws._reader_waits
    if r then ws._reader_waits = false; sched.wake(r) end
  end)
  live[ws] = true
  sched.spawn(reader, ws, ws)
  return ws
end

-- ---- sending ----

-- One frame, never masked (RFC 6455 5.1).
local function frame(op, fin, payload)
  local n = #payload
  local b1 = (fin and 0x80 or 0) | op
  if n < 126 then return pack("BB", b1, n) .. payload end
  if n < 65536 then return pack(">BBI2", b1, 126, n) .. payload end
  return pack(">BBI8", b1, 127, n) .. payload
end

-- Writes |data|; in a coroutine that may wait, waits for 'drain' when
-- the stream's buffer is full. -> whether the stream took it below its
-- high-water mark.
local function put(ws, data)
  local stream = ws.stream
  if stream.destroyed or stream.closed or stream.writableEnded then return false end
  local ok, r = pcall(stream.write, stream, data)
  if not ok then return false end
  if r == false and sched.waitable() and not stream.destroyed then
    stream:wait("drain")
    return true
  end
  return r
end

-- ws:send(data[, binary]) -> bool: a text message (data must be UTF-8)
-- or a binary one. |data| may be a list of strings: one fragment each.
-- False when the connection is closing or closed (nothing was sent).
function WebSocket:send(data, binary)
  local parts
  if type(data) == "table" then
    parts = data
    for i = 1, #parts do
      if type(parts[i]) ~= "string" then
        errors.raise("ERR_INVALID_ARG_TYPE", "data[" .. i .. "]", "of type string", errors.describe(parts[i]))
      end
    end
  elseif type(data) == "string" then
    local fs = self.fragmentSize
    if fs and #data > fs then
      parts = {}
      for i = 1, #data, fs do parts[#parts + 1] = data:sub(i, i + fs - 1) end
    else
      parts = { data }
    end
  else
    errors.raise("ERR_INVALID_ARG_TYPE", "data", "of type string", errors.describe(data))
  end
  if not binary then
    local whole = #parts == 1 and parts[1] or concat(parts)
    if not utf8len(whole) then errors.raise("ERR_INVALID_ARG_VALUE", "data", "text that is not UTF-8") end
  end
  if self.readyState ~= "open" then return false end
  if #parts == 0 then parts = { "" } end
  local ok = true
  for i = 1, #parts do
    local op = i == 1 and (binary and 2 or 1) or 0
    ok = put(self, frame(op, i == #parts, parts[i]))
    if self.readyState ~= "open" then return false end
  end
  return ok
end

local function control(self, op, data, what)
  data = data or ""
  if type(data) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", what, "of type string", errors.describe(data))
  end
  if #data > 125 then errors.raise("ERR_OUT_OF_RANGE", what, "at most 125 bytes", #data) end
  if self.readyState ~= "open" then return false end
  return put(self, frame(op, true, data))
end

-- ws:ping([data]) -> bool; the peer's pong comes as a 'pong' event
function WebSocket:ping(data) return control(self, 9, data, "data") end
-- ws:pong([data]) -> bool: an unsolicited pong (a heartbeat)
function WebSocket:pong(data) return control(self, 10, data, "data") end

local function finish_transport(ws)
  local stream = ws.stream
  if not stream.destroyed and not stream.closed and not stream.writableEnded then
    pcall(stream.finish, stream)
  end
  -- HTTP/2: the handshake is over (the peer's close came, or closeTimeout
  -- passed): RST_STREAM(NO_ERROR) once our END_STREAM is out, as RFC 9113
  -- 8.1 lets a server tell a client to stop sending (the engine does it by
  -- itself only for a stream Lua never read)
  if not stream._h1 and not stream.destroyed and not stream.closed then
    pcall(stream.close, stream, 0)
  end
  -- HTTP/2: the client ends its side after the close; one that does not
  -- has its stream reset after closeTimeout
  if not ws._kill_timer and not stream.destroyed and not stream.closed then
    ws._kill_timer = timers.setTimeout(function()
      if not stream.destroyed and not stream.closed then pcall(stream.close, stream, 8) end
    end, ws.closeTimeout)
  end
end

local function send_close(ws, code, reason)
  local payload = code and pack(">I2", code) .. (reason or "") or ""
  put(ws, frame(8, true, payload))
end

-- ws:close([code[, reason]]) -> nil: starts the closing handshake (1000
-- by default); 'close' follows once the peer answers, or closeTimeout ms.
function WebSocket:close(code, reason)
  if code ~= nil and (math.type(code) ~= "integer" or not valid_code(code) or
      (code >= 1012 and code <= 1014)) then
    errors.raise("ERR_OUT_OF_RANGE", "code", "1000-1003, 1007-1011 or 3000-4999", tostring(code))
  end
  reason = reason or ""
  if type(reason) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "reason", "of type string", errors.describe(reason))
  end
  if #reason > 123 or not utf8len(reason) then
    errors.raise("ERR_INVALID_ARG_VALUE", "reason", "UTF-8 of at most 123 bytes")
  end
  if self.readyState ~= "open" then return end
  self.readyState = "closing"
  send_close(self, code or 1000, reason)
  -- a reader held back by unreceived messages goes on to the peer's
  -- answer (messages after a close are dropped)
  local r = self._reader_waits
  if r then self._reader_waits = false; sched.wake(r) end
  self._close_timer = timers.setTimeout(function()
    self._close_timer = nil
    finish_transport(self)
  end, self.closeTimeout)
end

-- ---- receiving ----

-- The queue receive() takes from while nothing listens to 'message'.
local function deliver(ws, data, binary)
  if ws:listenerCount("message") > 0 then
    ws:emit("message", data, binary)
    return
  end
  local t = ws._qtail + 1
  ws._qtail = t
  ws._queue[t] = { data, binary }
  ws._qbytes = ws._qbytes + #data
  local r = ws._receiver
  if r then
    ws._receiver = false
    sched.wake(r)
  end
  -- nobody takes them: stop reading (backpressure to the peer), so what
  -- waits stays under 16 messages or about twice maxPayload
  local stream = ws.stream
  if (t - ws._qhead + 1 >= QUEUE_MESSAGES or ws._qbytes >= ws.maxPayload) and
      ws.readyState == "open" and not stream.destroyed and not stream.closed then
    ws._reader_waits = sched.current("ws reader")
    sched.wait()
  end
end

-- ws:receive([timeoutMs]) -> data, "text" | "binary"; nil, "closed",
-- code, reason once closed; nil, "timeout"; nil, "busy" while another
-- coroutine receives. Waits (in a coroutine).
function WebSocket:receive(timeout)
  local co = sched.current("ws:receive")
  while true do
    local h = self._qhead
    if h <= self._qtail then
      local m = self._queue[h]
      self._queue[h] = nil
      self._qhead = h + 1
      self._qbytes = self._qbytes - #m[1]
      local r = self._reader_waits
      if r then
        self._reader_waits = false
        sched.wake(r)
      end
      return m[1], m[2] and "binary" or "text"
    end
    if self.readyState == "closed" then return nil, "closed", self.closeCode, self.closeReason end
    if self._receiver then return nil, "busy" end
    self._receiver = co
    local timer
    if timeout then
      timer = timers.setTimeout(function()
        if self._receiver == co then
          self._receiver = false
          sched.wake(co, "timeout")
        end
      end, timeout)
    end
    local why = sched.wait()
    if timer then timers.clearTimeout(timer) end
    if why == "timeout" then return nil, "timeout" end
  end
end

-- The frames' bytes: at least |n| from _pos, reading the stream for more
-- (one concatenation per refill, however many chunks it took).
local function fill(ws, n)
  local buf, pos = ws._buf, ws._pos
  local have = #buf - pos + 1
  if have >= n then return true end
  local parts, k = { buf:sub(pos) }, 1
  local stream = ws.stream
  while have < n do
    local chunk = stream:read()
    if chunk == nil then
      ws._buf, ws._pos = concat(parts, "", 1, k), 1
      return false
    end
    k = k + 1
    parts[k] = chunk
    have = have + #chunk
  end
  ws._buf, ws._pos = concat(parts, "", 1, k), 1
  return true
end

local function closed(ws, code, reason)
  if ws.readyState == "closed" then return end
  ws.readyState = "closed"
  live[ws] = nil
  ws.closeCode, ws.closeReason = code, reason or ""
  if ws._close_timer then timers.clearTimeout(ws._close_timer); ws._close_timer = nil end
  local r = ws._receiver
  if r then
    ws._receiver = false
    sched.wake(r)
  end
  Emitter.emit_guarded(ws, "WebSocket", "close", code, ws.closeReason)
  ws:_closewaiters()
end

-- RFC 6455 7.1.7: fail the connection: a close frame with |code|, then
-- the end of the transport.
local function fail(ws, code, why)
  ws.failure = why
  if ws.readyState == "open" then
    ws.readyState = "closing"
    send_close(ws, code, why)
  end
  finish_transport(ws)
  closed(ws, code, why)
end
M._fail = fail

-- The peer's close frame; |payload| was checked.
local function on_close_frame(ws, code, reason)
  if ws.readyState == "open" then
    ws.readyState = "closing"
    send_close(ws, code, "") -- the code echoed (5.5.1)
  end
  finish_transport(ws)
  closed(ws, code or 1005, reason)
end

-- The reader: runs for the connection's life in a coroutine of its own.
function reader(ws)
  local msg, msg_size, msg_binary = nil, 0, false
  local limit = ws.maxPayload
  while ws.readyState ~= "closed" do
    if not fill(ws, 2) then break end
    local buf, pos = ws._buf, ws._pos
    local b1, b2 = byte(buf, pos, pos + 1)
    local fin, op, len, hl = b1 & 0x80 ~= 0, b1 & 0x0f, b2 & 0x7f, 2
    if b1 & 0x70 ~= 0 then return fail(ws, 1002, "reserved bits set") end
    if b2 & 0x80 == 0 then return fail(ws, 1002, "unmasked client frame") end
    if len == 126 then
      if not fill(ws, 4) then break end
      buf, pos = ws._buf, ws._pos
      len, hl = unpack(">I2", buf, pos + 2), 4
      if len < 126 then return fail(ws, 1002, "length not minimally encoded") end
    elseif len == 127 then
      if not fill(ws, 10) then break end
      buf, pos = ws._buf, ws._pos
      len, hl = unpack(">i8", buf, pos + 2), 10
      if len < 65536 then return fail(ws, 1002, "length not minimally encoded") end
    end
    if op >= 8 then
      if op > 10 then return fail(ws, 1002, "unknown opcode") end
      if not fin or len > 125 then return fail(ws, 1002, "bad control frame") end
    elseif op > 2 then
      return fail(ws, 1002, "unknown opcode")
    elseif op == 0 then
      if not msg then return fail(ws, 1002, "continuation without a message") end
    elseif msg then
      return fail(ws, 1002, "new message inside a fragmented one")
    end
    if op < 8 and msg_size + len > limit then
      -- refused before its payload is read: memory stays bounded
      return fail(ws, 1009, "message too big")
    end
    if not fill(ws, hl + 4 + len) then break end
    buf, pos = ws._buf, ws._pos
    local start = pos + hl + 4
    local payload = len > 0 and ws_mask(buf, buf:sub(pos + hl, pos + hl + 3), start, start + len - 1) or ""
    ws._pos = start + len
    if op == 8 then
      local code, reason
      if len == 1 then return fail(ws, 1002, "close frame of one byte") end
      if len >= 2 then
        code, reason = unpack(">I2", payload), payload:sub(3)
        if not valid_code(code) then return fail(ws, 1002, "invalid close code") end
        if not utf8len(reason) then return fail(ws, 1007, "close reason not UTF-8") end
      end
      on_close_frame(ws, code, reason)
      break
    elseif op == 9 then
      if ws.autoPong and ws.readyState == "open" then put(ws, frame(10, true, payload)) end
      ws:emit("ping", payload)
    elseif op == 10 then
      ws:emit("pong", payload)
    else
      if op ~= 0 then msg, msg_size, msg_binary = {}, 0, op == 2 end
      msg[#msg + 1] = payload
      msg_size = msg_size + len
      if fin then
        local data = #msg == 1 and msg[1] or concat(msg)
        msg, msg_size = nil, 0
        if not msg_binary and not utf8len(data) then
          return fail(ws, 1007, "text message not UTF-8")
        end
        if ws.readyState == "open" then deliver(ws, data, msg_binary) end
      end
    end
  end
  -- the transport ended (or the handshake finished)
  if ws.readyState ~= "closed" then
    finish_transport(ws)
    closed(ws, 1006, "connection lost")
  end
end

-- A 'message' listener (or the reader) raised: 1011, as RFC 6455 has it
-- for an unexpected condition on the server.
function WebSocket:_onerror(err)
  sched.report(nil, err)
  if self.readyState ~= "closed" then fail(self, 1011, "internal error") end
end

function WebSocket:_sticky(name)
  if name == "close" and self.readyState == "closed" then return self.closeCode, self.closeReason end
  return nil
end

-- SIGINT/SIGTERM (h2lua.shutdown): open sockets are closed with 1001
-- "going away", so the drain need not wait for their clients to leave.
require("h2lua")._onshutdown(function(graceful)
  -- a worker being replaced keeps its sockets (until h2lua.reloadLinger)
  if graceful == "listeners" then return end
  for ws in pairs(live) do
    if graceful then pcall(ws.close, ws, 1001, "going away") else pcall(finish_transport, ws) end
  end
end)

return M
