-- Http2Session (server side): the Node.js object over an engine session
-- handle, and the engine events that concern sessions and their streams.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local Emitter = require "h2lua.emitter"
local C = require "http2.constants"
local Stream = require "http2.stream"
local headers_mod = require "http2.headers"
local core = sched.core

local settings_mod = require "http2.settings"
local perf = require "h2lua.perf"
local guarded = Emitter.emit_guarded

local Session = {}
local methods = Emitter.extend({})
Session.methods = methods

-- Properties computed on read.
local getters = {
  -- kept until the next SETTINGS changes them (Node's cache)
  localSettings = function(self)
    local s = rawget(self, "_local_settings")
    if s then return s end
    s = core.session_get_settings(self._box, false)
    if s then rawset(self, "_local_settings", s) end
    return s or {}
  end,
  remoteSettings = function(self)
    local s = rawget(self, "_remote_settings")
    if s then return s end
    s = core.session_get_settings(self._box, true)
    if s then rawset(self, "_remote_settings", s) end
    return s or {}
  end,
  state = function(self) return core.session_state(self._box) or {} end,
  pendingSettingsAck = function(self) return #self._settings_acks > 0 end,
  -- only TLS sessions have one: the origin they were reached by
  originSet = function(self)
    if not self.encrypted or self.destroyed then return nil end
    local set = rawget(self, "_origin_set")
    if set then return set end
    local sock = self.socket
    local host = sock.servername or sock.localAddress
    if self.type == C.NGHTTP2_SESSION_CLIENT then host = self._authority:match("^(.*):%d+$") end
    -- a server session's port is its socket's remotePort, as in Node.js
    local port = self.type == C.NGHTTP2_SESSION_CLIENT and tonumber(self._authority:match(":(%d+)$"))
      or sock.remotePort
    return { "https://" .. host .. (port == 443 and "" or (":" .. port)) }
  end,
}
Session.__index = require("h2lua.class").index(methods, getters)
Session.__name = "h2lua.Session"
Session.__tostring = function(self)
  return "h2lua.Session" .. (self.destroyed and " (closed)" or "")
end

-- Every live session, for shutdown.
local live = {}
Session.live = live

-- The socket a session exposes: its addresses, and Node's refusal of raw
-- I/O on an HTTP/2 socket.
local Socket = {}
local function no_manipulation()
  errors.raise("ERR_HTTP2_NO_SOCKET_MANIPULATION")
end
for _, name in ipairs({ "write", "read", "pause", "resume", "end", "finish",
  "destroy", "emit", "setEncoding", "setKeepAlive", "setNoDelay", "pipe",
  "unshift", "cork", "uncork" }) do
  Socket[name] = no_manipulation
end
function Socket:setTimeout(ms, cb)
  self._session:setTimeout(ms, cb)
  return self
end
Socket.writableHighWaterMark = 16384 -- a net.Socket's default, as Node's
function Socket:ref() self._session:ref() return self end
function Socket:unref() self._session:unref() return self end
function Socket:address()
  return { address = self.localAddress, port = self.localPort, family = self.remoteFamily }
end
-- Listening to the socket is allowed, as through Node's proxy: 'finish',
-- 'end' and 'close' come when the session's connection closes.
for _, name in ipairs({ "on", "once", "off", "removeListener", "prependListener",
  "removeAllListeners", "listenerCount", "listeners" }) do
  Socket[name] = function(self, ...)
    local em = rawget(self, "_emitter")
    if not em then
      em = Emitter.new({})
      rawset(self, "_emitter", em)
    end
    local r = em[name](em, ...)
    if r == em then return self end
    return r
  end
end
-- bytesRead and bytesWritten: the connection's counters (the last ones
-- once it closed)
local socket_counters = { bytesRead = true, bytesWritten = true }
Socket.__index = function(self, k)
  if socket_counters[k] then
    local se = rawget(self, "_session")
    local m = se and se._box and core.session_metrics(se._box)
    if m then return m[k] end
    return rawget(self, "_last_" .. k) or 0
  end
  return Socket[k]
end

-- A socket whose session closed, as Node's proxy once unbound: any use
-- raises ERR_HTTP2_SOCKET_UNBOUND.
local function unbound() errors.raise("ERR_HTTP2_SOCKET_UNBOUND") end
local Unbound = { __index = unbound, __newindex = unbound, __name = "h2lua.Socket",
  __tostring = function() return "h2lua.Socket (unbound)" end }

local function socket_closed(sock)
  local se = rawget(sock, "_session")
  local m = se and se._box and core.session_metrics(se._box)
  if m then
    rawset(sock, "_last_bytesRead", m.bytesRead)
    rawset(sock, "_last_bytesWritten", m.bytesWritten)
  end
  local em = rawget(sock, "_emitter")
  sched.spawn(function()
    if em then
      em:emit("finish")
      em:emit("end")
      em:emit("close", false)
    end
    -- then, as in Node, session.socket is nil from the session's 'close'
    -- on, and the socket itself is unbound (not the one 'unknownProtocol'
    -- got: Node gives the TLS socket itself there)
    if se and rawget(se, "_plain_socket") then return end
    if se and rawget(se, "socket") == sock then rawset(se, "socket", nil) end
    for k in pairs(sock) do rawset(sock, k, nil) end
    setmetatable(sock, Unbound)
  end)
end
Socket.__name = "h2lua.Socket"

function Session._new(server, box, raddr, rport, laddr, lport, family)
  local fam = family == 6 and "IPv6" or "IPv4"
  local self = setmetatable({
    _box = box, _server = server, type = C.NGHTTP2_SESSION_SERVER,
    encrypted = false, alpnProtocol = "h2c", closed = false,
    destroyed = false, connecting = false, _events = false, _waiters = false,
    _pings = {}, _settings_acks = { { initial = true } },
    _max_pings = server and server._options.maxOutstandingPings or 10,
    _max_settings = server and server._options.maxOutstandingSettings or 10,
    _stream_time = 0, _streams_closed = 0,
    -- sent in the first SETTINGS: it may not be turned off later
    _connect_protocol = server and server._settings and
      server._settings.enableConnectProtocol or false,
    _streams = false,
  }, Session)
  self.socket = setmetatable({ remoteAddress = raddr, remotePort = rport,
    remoteFamily = fam, localAddress = laddr, localPort = lport,
    encrypted = false, _session = self }, Socket)
  live[self] = true
  return self
end

-- Session._new_client(options, protocol, authority) -> a client session,
-- connecting (core.connect fills in _box)
function Session._new_client(options, protocol, authority)
  local self = setmetatable({
    _box = false, _server = false, type = C.NGHTTP2_SESSION_CLIENT,
    encrypted = protocol == "https:", alpnProtocol = "h2c", closed = false,
    destroyed = false, connecting = true, _events = false, _waiters = false,
    _pings = {}, _settings_acks = { { initial = true } },
    _max_pings = options.maxOutstandingPings or 10,
    _max_settings = options.maxOutstandingSettings or 10,
    _stream_time = 0, _streams_closed = 0, _connect_protocol = false,
    _protocol = protocol, _authority = authority, _streams = {},
  }, Session)
  self.socket = setmetatable({ encrypted = false, _session = self }, Socket)
  live[self] = true
  return self
end

local function wait_close(self, cb, what)
  if cb ~= nil then
    errors.check_function(cb, "callback")
    self:once("close", cb)
  elseif sched.waitable() and not self.destroyed then
    self:wait("close")
  end
end

-- session:close([cb]) -> nil: GOAWAY(NO_ERROR); open streams finish, then
-- the session closes. Without cb, inside a coroutine, waits until closed.
-- Requests made while the socket was still connecting never go out (as
-- in Node.js they fail with ERR_HTTP2_GOAWAY_SESSION).
function methods:close(cb)
  if not self.closed and not self.destroyed then
    self.closed = true
    if self.connecting and self._streams then
      for _, st in pairs(self._streams) do
        if not st.destroyed then st:destroy(errors.new("ERR_HTTP2_GOAWAY_SESSION")) end
      end
    end
    core.session_close(self._box)
  end
  wait_close(self, cb, "session:close")
end

-- session:destroy([err][, code]) -> nil: ends the session now.
function methods:destroy(err, code)
  if type(err) == "number" then
    err, code = nil, err
    -- Node: a code alone is the error, with its number
    if code ~= C.NGHTTP2_NO_ERROR then
      err = errors.new("ERR_HTTP2_SESSION_ERROR", code)
      -- one the caller did not give: 'error' only when listened to (not
      -- raised into the loop, which would lose 'close')
      self._soft_err = true
    end
  end
  if self.destroyed then return end
  if code == nil then code = err and C.NGHTTP2_INTERNAL_ERROR or C.NGHTTP2_NO_ERROR end
  self._destroy_err = err
  self.closed = true
  self.destroyed = true
  -- as Node does, the streams are destroyed now: requests still waiting
  -- for the connection with ERR_HTTP2_STREAM_CANCEL, the others with |err|
  local cancel
  if self.connecting then
    cancel = errors.new("ERR_HTTP2_STREAM_CANCEL")
    if err ~= nil then
      cancel.cause = err
      if type(err) == "table" and type(err.message) == "string" then
        cancel.message = cancel.message .. " (caused by: " .. err.message .. ")"
      end
    end
  end
  for _, st in ipairs(core.session_streams(self._box)) do
    if not st.destroyed then
      st._destroy_err = cancel or err
      st._destroying = true
      st.closed = true
      st.destroyed = true
      if not st.rstCode then st.rstCode = code end
      st._session = self
      st.session = nil
    end
  end
  core.session_destroy(self._box, code)
end

-- session:goaway([code[, lastStreamID[, opaqueData]]]) -> nil
function methods:goaway(code, last, opaque)
  if self.destroyed then errors.raise("ERR_HTTP2_INVALID_SESSION") end
  if code ~= nil and math.type(code) ~= "integer" then
    errors.raise("ERR_INVALID_ARG_TYPE", "code", "of type number", errors.describe(code))
  end
  if last ~= nil and math.type(last) ~= "integer" then
    errors.raise("ERR_INVALID_ARG_TYPE", "lastStreamID", "of type number", errors.describe(last))
  end
  if opaque ~= nil and type(opaque) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "opaqueData", "of type string", errors.describe(opaque))
  end
  -- as in Node, a lastStreamID of 0 or less means the last stream seen
  if last ~= nil and last <= 0 then last = nil end
  core.session_goaway(self._box, code or C.NGHTTP2_NO_ERROR, last, opaque)
end

local function check_live(self)
  if self.destroyed then errors.raise("ERR_HTTP2_INVALID_SESSION") end
end

-- session:setNextStreamID(id) -> nil: the id of the next stream opened
-- here. As in Node.js an id nghttp2 refuses (not above the last, of the
-- wrong parity, past 2^31-1) is ignored; requests past 2^31-1 fail with
-- ERR_HTTP2_OUT_OF_STREAMS.
function methods:setNextStreamID(id)
  check_live(self)
  if type(id) ~= "number" then
    errors.raise("ERR_INVALID_ARG_TYPE", "id", "of type number", errors.describe(id))
  end
  if id <= 0 or id > 0xffffffff then
    errors.raise("ERR_OUT_OF_RANGE", "id", "> 0 and <= 4294967295", math.tointeger(id) or id)
  end
  core.session_next_stream_id(self._box, math.tointeger(math.floor(id)))
end

local ping_seq = 0

-- session:ping([payload][, cb]) -> bool. cb(err, durationMs, payload) on
-- the ACK. Without cb, inside a coroutine, waits and returns those.
function methods:ping(payload, cb)
  check_live(self)
  if type(payload) == "function" then payload, cb = nil, payload end
  if payload ~= nil then
    if type(payload) ~= "string" then
      errors.raise("ERR_INVALID_ARG_TYPE", "payload", "of type string", errors.describe(payload))
    end
    if #payload ~= 8 then
      local e = errors.new("ERR_HTTP2_PING_LENGTH")
      e.message, e.name = "HTTP2 ping payload must be 8 bytes", "RangeError"
      error(e, 2)
    end
  end
  local co
  if cb == nil then
    co = sched.current("session:ping")
  else
    errors.check_function(cb, "callback")
  end
  if payload == nil then
    ping_seq = ping_seq + 1
    payload = string.pack(">I4I4", ping_seq & 0xffffffff, math.floor(core.now()) & 0xffffffff)
  end
  local pings = self._pings
  local ok = #pings < self._max_pings
  if ok then ok = core.session_ping(self._box, payload) == 0 end
  if not ok then
    local e = errors.new("ERR_HTTP2_PING_CANCEL")
    e.message = "HTTP2 ping cancelled"
    if co then return e end
    sched.defer(cb, e, 0, payload)
    return false
  end
  pings[#pings + 1] = { payload = payload, cb = cb, co = co, t0 = core.now() }
  if co then return sched.wait() end
  return true
end

-- session:settings([settings][, cb]) -> nil. cb(err, settings, duration)
-- once acknowledged. Without cb, inside a coroutine, waits for the ACK.
function methods:settings(settings, cb)
  check_live(self)
  if type(settings) == "function" then settings, cb = nil, settings end
  local co
  if cb == nil then
    if sched.waitable() then co = sched.current("session:settings") end
  else
    errors.check_function(cb, "callback")
  end
  local s = settings_mod.validate(settings)
  -- enableConnectProtocol turned off after on is sent as it is, as Node
  -- does: the peer ends the session with PROTOCOL_ERROR (RFC 8441 3)
  local acks = self._settings_acks
  if #acks >= self._max_settings then
    -- Node: the session is destroyed with the error (its 'error' event)
    acks[#acks + 1] = { cb = cb, co = co, t0 = core.now() }
    self:_fail(errors.new("ERR_HTTP2_MAX_PENDING_SETTINGS_ACK"))
    if co then return sched.wait() end
    return
  end
  if s.enableConnectProtocol then self._connect_protocol = true end
  local rv = core.session_settings(self._box, settings_mod.flatten(s))
  if rv ~= 0 then errors.raise("ERR_HTTP2_ERROR", core.strerror(rv)) end
  acks[#acks + 1] = { cb = cb, co = co, t0 = core.now() }
  if co then return sched.wait() end
end

-- session:setLocalWindowSize(windowSize) -> nil
function methods:setLocalWindowSize(size)
  check_live(self)
  if type(size) ~= "number" then
    errors.raise("ERR_INVALID_ARG_TYPE", "windowSize", "of type number", errors.describe(size))
  end
  if math.type(size) ~= "integer" and size ~= math.floor(size) then
    errors.raise("ERR_OUT_OF_RANGE", "windowSize", "an integer", size)
  end
  if size < 0 or size > 0x7fffffff then
    errors.raise("ERR_OUT_OF_RANGE", "windowSize", ">= 0 && <= 2147483647", size)
  end
  local rv = core.session_window(self._box, math.tointeger(size))
  if rv ~= 0 then errors.raise("ERR_HTTP2_ERROR", core.strerror(rv)) end
end

-- session:setTimeout(msecs[, cb]) -> nil: 'timeout' after msecs without
-- bytes in or out; 0 turns it off
function methods:setTimeout(ms, cb)
  errors.check_msecs(ms)
  if cb ~= nil then
    errors.check_function(cb, "callback")
    self:on("timeout", cb)
  end
  if not self.destroyed then core.session_timeout(self._box, ms) end
end

-- Session.url_origin(scheme, authority) -> the origin as the WHATWG URL
-- parser serializes it: lower case, no default port.
local default_ports = { http = "80", https = "443", ws = "80", wss = "443", ftp = "21" }
function Session.url_origin(scheme, authority)
  scheme, authority = scheme:lower(), authority:lower()
  local host, port = authority:match("^(.*):(%d+)$")
  if host and default_ports[scheme] == port then authority = host end
  return scheme .. "://" .. authority
end

-- The schemes whose URLs have an origin (WHATWG URL); any other URL's
-- origin is "null", which Node.js refuses.
local has_origin = { http = true, https = true, ws = true, wss = true, ftp = true }

-- An origin from a string URL or a table with an origin field, as Node.js
-- takes them: a URL is serialized to its origin (ERR_INVALID_URL for no
-- URL, |code| for one whose origin is "null"); a table's origin is the
-- caller's, used as it is unless empty or "null".
local function origin_of(v, code)
  if type(v) == "table" and v.origin ~= nil then
    v = v.origin
    if type(v) ~= "string" then
      errors.raise("ERR_INVALID_ARG_TYPE", "origin", "of type string", errors.describe(v))
    end
    if v == "" or v == "null" then errors.raise(code) end
    return v
  end
  if type(v) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "origin", "of type string or table", errors.describe(v))
  end
  local scheme, rest = v:match("^(%a[%w+.-]*):(.*)$")
  if not scheme then errors.raise("ERR_INVALID_URL", "Invalid URL: " .. v) end
  local host = rest:match("^//([^/?#]*)")
  if not has_origin[scheme:lower()] or not host then errors.raise(code) end
  host = host:gsub("^[^@]*@", "")
  if host == "" or host:match("^:") then errors.raise("ERR_INVALID_URL", "Invalid URL: " .. v) end
  return Session.url_origin(scheme, host)
end

-- A number as JavaScript prints it (integral floats without ".0").
local function js_number(n)
  if n == math.huge then return "Infinity" elseif n == -math.huge then return "-Infinity" end
  return tostring(math.tointeger(n) or n)
end

-- session:altsvc(alt, originOrStream) -> nil: an ALTSVC frame (RFC 7838)
function methods:altsvc(alt, target)
  check_live(self)
  if self.type ~= C.NGHTTP2_SESSION_SERVER then errors.raise("ERR_HTTP2_INVALID_SESSION") end
  if type(alt) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "alt", "of type string", errors.describe(alt))
  end
  local id, origin = 0, ""
  if target == nil then
    -- as Node.js: allowed, and nothing is sent (nghttp2 needs one of them)
  elseif type(target) == "number" then
    -- Node.js: any uint32 but 0 names a stream
    if target ~= math.floor(target) or target <= 0 or target >= 4294967296 then
      errors.raise("ERR_OUT_OF_RANGE", "originOrStream", "> 0 && < 4294967296", js_number(target))
    end
    id = math.tointeger(target) & 0x7fffffff -- the frame has 31 bits (R is ignored)
  else
    origin = origin_of(target, "ERR_HTTP2_ALTSVC_INVALID_ORIGIN")
  end
  -- Node.js's rule for the characters of alt (a quoted string's: tab and
  -- visible ASCII but the backslash); bytes above 0x7e are refused, where
  -- Node allows the code points 0x80..0xff of its strings
  if alt:find("[^\t\x20-\x7e]") or alt:find("\\", 1, true) then errors.raise("ERR_INVALID_CHAR", 'Invalid character in alt') end
  if #alt + #origin > 16382 then errors.raise("ERR_HTTP2_ALTSVC_LENGTH") end
  core.session_altsvc(self._box, id, origin, alt)
end

-- session:origin(...) -> nil: an ORIGIN frame (RFC 8336)
function methods:origin(...)
  check_live(self)
  if self.type ~= C.NGHTTP2_SESSION_SERVER then errors.raise("ERR_HTTP2_INVALID_SESSION") end
  local list, total = {}, 0
  for i = 1, select("#", ...) do
    local o = origin_of((select(i, ...)), "ERR_HTTP2_INVALID_ORIGIN")
    total = total + #o
    list[i] = o
  end
  if #list == 0 then return end
  if total > 16382 then errors.raise("ERR_HTTP2_ORIGIN_LENGTH") end
  core.session_origin(self._box, table.unpack(list))
end

-- session:ref() / unref(): whether this session keeps the loop alive
function methods:ref() if not self.destroyed then core.session_ref(self._box, true) end end
function methods:unref() if not self.destroyed then core.session_ref(self._box, false) end end

local function raise_if_bad_headers(headers)
  for k in pairs(headers) do
    if type(k) == "string" and k:byte(1) == 58 and not headers_mod.valid_pseudo[k:lower()] then
      errors.raise("ERR_HTTP2_INVALID_PSEUDOHEADER", k)
    end
  end
end

local no_payload = { GET = true, HEAD = true, DELETE = true }
local STREAM_ID_NOT_AVAILABLE = -509 -- nghttp2's NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE

local function out_of_streams(stream)
  stream:emit("error", stream._destroy_err)
  stream._close_emitted = true
  stream:emit("close")
  stream:_closewaiters()
end

-- session:request([headers][, options]) -> ClientHttp2Stream
function methods:request(headers, options)
  if self.type ~= C.NGHTTP2_SESSION_CLIENT then
    errors.raise("ERR_HTTP2_INVALID_SESSION", "not a client session")
  end
  if self.destroyed then errors.raise("ERR_HTTP2_INVALID_SESSION") end
  if self.closed then errors.raise("ERR_HTTP2_GOAWAY_SESSION") end
  if headers == nil then headers = {} end
  if type(headers) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "headers", "of type table", errors.describe(headers))
  end
  if options == nil then options = {} end
  if type(options) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
  end
  raise_if_bad_headers(headers)
  local h = {}
  for k, v in pairs(headers) do h[k] = v end
  if h[":method"] == nil then h[":method"] = "GET" end
  local method = tostring(h[":method"])
  if method == "CONNECT" and h[":protocol"] == nil then
    if h[":authority"] == nil then errors.raise("ERR_HTTP2_CONNECT_AUTHORITY") end
    if h[":scheme"] ~= nil then errors.raise("ERR_HTTP2_CONNECT_SCHEME") end
    if h[":path"] ~= nil then errors.raise("ERR_HTTP2_CONNECT_PATH") end
  else
    if h[":protocol"] ~= nil and not self.remoteSettings.enableConnectProtocol then
      errors.raise("ERR_HTTP2_CONNECT_PROTOCOL_NOT_ENABLED")
    end
    if h[":authority"] == nil and h.host == nil then h[":authority"] = self._authority end
    if h[":scheme"] == nil then h[":scheme"] = self._protocol:sub(1, -2) end
    if h[":path"] == nil then h[":path"] = "/" end
  end
  local end_stream = options.endStream
  if end_stream == nil then
    end_stream = no_payload[method] == true
  elseif type(end_stream) ~= "boolean" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options.endStream", "of type boolean", errors.describe(end_stream))
  end
  if options.waitForTrailers ~= nil and type(options.waitForTrailers) ~= "boolean" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options.waitForTrailers", "of type boolean",
      errors.describe(options.waitForTrailers))
  end
  -- the priority options as Node.js 18 checks them: a wrong type is
  -- ERR_INVALID_ARG_VALUE, a weight out of 1..256 is clamped
  local parent, weight = options.parent, options.weight
  local function bad_value(name, v)
    local e = errors.new("ERR_INVALID_ARG_VALUE")
    e.message = ("The property 'options.%s' is invalid. Received %s"):format(name, errors.describe(v))
    error(e, 3)
  end
  if weight ~= nil and type(weight) ~= "number" then bad_value("weight", weight) end
  if parent ~= nil and (type(parent) ~= "number" or parent < 0) then bad_value("parent", parent) end
  for _, k in ipairs({ "exclusive", "silent" }) do
    if options[k] ~= nil and type(options[k]) ~= "boolean" then bad_value(k, options[k]) end
  end
  if weight ~= nil then
    weight = weight ~= weight and 1 or math.max(1, math.min(256, weight))
    weight = math.tointeger(weight >= 0 and math.floor(weight) or math.ceil(weight))
  end
  if parent ~= nil then parent = math.tointeger(math.floor(math.min(parent, 0x7fffffff))) end
  local ok, n, sens = pcall(headers_mod.flatten, h, headers_mod.request_pseudo)
  if not ok then
    -- Node: a name that is not a token errors the session too
    if errors.is(n) and n.code == "ERR_INVALID_HTTP_TOKEN" then self:destroy(n) end
    error(n, 2)
  end
  local stream = Stream.as_client(Stream._new(self, false, nil))
  stream.headersSent = true
  stream.sentHeaders = h
  if end_stream then stream.writableEnded = true end
  stream._trailers_later = options.waitForTrailers == true
  local id, why = core.request(self._box, stream, end_stream, sens, parent, weight,
    options.exclusive == true, options.waitForTrailers == true,
    table.unpack(headers_mod.flat, 1, n))
  if not id then
    if why == STREAM_ID_NOT_AVAILABLE then
      -- as in Node.js: the stream, not the call, fails
      stream._destroy_err = errors.new("ERR_HTTP2_OUT_OF_STREAMS")
      stream.closed, stream.destroyed = true, true
      sched.defer(out_of_streams, stream)
      return stream
    end
    errors.raise("ERR_HTTP2_ERROR", core.strerror(why))
  end
  self._streams[id] = stream
  -- 'ready' once the stream can go out: after the socket connected
  if self.connecting then
    self:once("connect", function() if not stream.destroyed then stream:emit("ready") end end)
  else
    sched.defer(Stream._emit, stream, "ready")
  end
  return stream
end

-- Engine events ------------------------------------------------------------

local handlers = sched.handlers
local EV = sched.EV

local function session_opened(server, session)
  if server and server._tls then server:emit("secureConnection", session.socket) end
  local origins = server and server._options.origins
  if type(origins) == "table" and #origins > 0 then session:origin(table.unpack(origins)) end
  if server then
    if server.timeout and server.timeout > 0 then session:setTimeout(server.timeout) end
    if not session._adopted then server:emit("connection", session.socket) end
    server:emit("session", session)
  end
  session:emit("connect", session, session.socket)
end

-- An HTTP/1.1 connection: 'connection' on the server, no 'session' (there
-- is no HTTP/2 session; Node gives HTTP/1 requests to 'request' only).
local function h1_opened(server, session)
  if server and not session._adopted then server:emit("connection", session.socket) end
end

handlers[EV.SESSION] = function(server, box, raddr, rport, laddr, lport, family, h1, adopted)
  local session = Session._new(server, box, raddr, rport, laddr, lport, family)
  -- given by server:emit('connection', socket): that was its 'connection'
  session._adopted = adopted
  -- HTTP/1.1 bytes on a server without allowHTTP1 are refused as an
  -- HTTP/2 session that fails (bad client magic), as Node's: a 'session'
  if h1 and not (server and server._options.allowHTTP1) then h1 = false end
  if server and server._tls then
    session.encrypted = true
    session.alpnProtocol = h1 and "http/1.1" or "h2"
    require("http2.tls").socket_details(session.socket, box)
  end
  if h1 then
    session._h1 = true
    if not session.encrypted then session.alpnProtocol = false end
  end
  if server then
    server:_addsession(session)
    if server._want_raw then core.session_want_raw(box, true) end
  end
  sched.spawn(h1 and h1_opened or session_opened, nil, server, session)
  return session
end

-- Whether a 'stream' listener can receive rawHeaders (its 4th argument):
-- the engine builds them only then.
function Session.takes_raw(fn)
  if type(fn) == "table" then fn = fn.listener end
  if type(fn) ~= "function" then return true end
  local info = debug.getinfo(fn, "u")
  return info.isvararg or info.nparams >= 4
end

function methods:_onlisten(name, fn)
  if name == "stream" and self._box and Session.takes_raw(fn) then
    core.session_want_raw(self._box, true)
  elseif name == "frame" and self._box then
    core.session_trace(self._box, true) -- the engine describes frames from now
  end
end

-- A frame sent or received (beyond Node): 'frame' with its description.
-- Once nobody listens the engine stops describing them.
handlers[EV.FRAME] = function(self, frame)
  if self:listenerCount("frame") == 0 then
    if self._box then core.session_trace(self._box, false) end
    return
  end
  sched.spawn(function() self:emit("frame", frame) end)
end

handlers[EV.UPGRADED] = function(session)
  session._h1 = false
  session.alpnProtocol = "h2c"
  sched.spawn(session_opened, nil, session._server, session)
end

local compat
-- The access log (http2.accesslog) replaces this and the entry while it
-- is on; nothing here checks for it.
local session_fast = core.session_fast
local FLAGS, FLAGS_END = C.NGHTTP2_FLAG_END_HEADERS, C.NGHTTP2_FLAG_END_HEADERS | C.NGHTTP2_FLAG_END_STREAM

-- A new request on a server session: the engine made the stream object
-- and runs this in a pooled coroutine (the stream owns its errors).
-- HTTP/1.1 requests go to the Compatibility API only, as in Node.js.
local function stream_entry(session, stream, headers, raw, ended, http1)
  local server = session._server
  if http1 then
    compat = compat or require "http2.compat"
    if server then compat.dispatch(server, stream, headers, raw) end
    return
  end
  local flags = ended and FLAGS_END or FLAGS
  local evs = session._events
  local own = evs and evs.stream
  if own then session:emit("stream", stream, headers, flags, raw) end
  if server == nil then return end
  -- the server's 'stream' listeners, then the Compatibility API's
  -- 'request' (server:_onstream, inlined: this runs for every request).
  -- A single listener is called directly; _stream_fn remembers the one
  -- last seen to be a function, so type() is not asked every time.
  evs = server._events
  local l = evs and evs.stream
  if l then
    if l ~= server._stream_fn then
      if type(l) == "function" then server._stream_fn = l else l = nil end
    end
    if l == nil then
      server:emit("stream", stream, headers, flags, raw)
    elseif not server._compat then
      -- nothing else listens: the next requests of this session go to l
      -- from the engine, until listeners change
      if not own and session._box then session_fast(session._box, l, session) end
      return l(stream, headers, flags, raw)
    else
      l(stream, headers, flags, raw)
    end
  end
  if server._compat then
    compat = compat or require "http2.compat"
    compat.dispatch(server, stream, headers, raw)
  end
end
core.init { stream_entry = stream_entry }
Session.stream_entry = stream_entry
function Session._set_fast(fn) session_fast = fn end

-- One-shot events a wait must not miss.
function methods:_sticky(name)
  if name == "connect" then
    if not self.connecting and not self.destroyed then return self, self.socket end
  elseif name == "close" then
    if rawget(self, "_close_emitted") then return true end
  end
  return nil
end

-- What the runtime does once a session closed, once.
local function session_cleanup(self)
  if rawget(self, "_cleaned") then return end
  self._cleaned = true
  self:_closewaiters()
  if self._server then self._server:_removesession(self) end
end

-- The session ended: 'error' (destroyed with one), 'close', then the
-- runtime's cleanup, which a listener's error never skips. A server
-- session's error also goes to the server's 'sessionError' (Node.js
-- listens on every server session for that), so one nobody handles is not
-- raised; a client session's unhandled error is raised after the cleanup.
local function session_closed(self)
  local err = self._destroy_err
  local server = self._server
  local unhandled = false
  if err ~= nil then
    if self:listenerCount("error") > 0 then
      guarded(self, "Http2Session", "error", err)
    elseif server == nil and not self._soft_err then
      unhandled = true -- a soft error (a peer's GOAWAY code) is told only to listeners
    end
    if server and self._error_told ~= err then
      guarded(server, "Http2Server", "sessionError", err, self)
    end
  end
  local cancel = errors.new("ERR_HTTP2_PING_CANCEL")
  cancel.message = "HTTP2 ping cancelled"
  for _, p in ipairs(self._pings) do
    if p.co then sched.wake(p.co, cancel) else sched.defer(p.cb, cancel, 0, p.payload) end
  end
  self._pings = {}
  for _, a in ipairs(self._settings_acks) do
    if a.co then sched.wake(a.co, errors.new("ERR_HTTP2_INVALID_SESSION")) end
  end
  perf.session_entry(self)
  self._close_emitted = true
  guarded(self, "Http2Session", "close")
  session_cleanup(self)
  if unhandled then error(err, 0) end
end

-- An error in a coroutine the session owns (its close above, stopped by
-- the CPU budget, say): reported; a closed session is cleaned up anyway.
function methods:_onerror(err)
  require("h2lua.log").error_with_stack("error in callback: ", err)
  if self.destroyed then session_cleanup(self) end
end

handlers[EV.SESSION_CLOSE] = function(self)
  if perf.active() then self._metrics = core.session_metrics(self._box) end
  socket_closed(self.socket)
  self.closed = true
  self.destroyed = true
  live[self] = nil
  sched.spawn(session_closed, self, self)
end

local TOO_MANY_INVALID_FRAMES = -10001 -- the engine's H2LUA_ERR_TOO_MANY_INVALID_FRAMES

local function session_error(self, code, msg, errname)
  local err
  if errname then -- the socket's error (ECONNRESET, ...), as Node's net reports it
    err = errors.system(errname, "read", "read " .. errname)
  elseif code == TOO_MANY_INVALID_FRAMES then
    err = errors.new("ERR_HTTP2_TOO_MANY_INVALID_FRAMES")
  else
    err = errors.new("ERR_HTTP2_ERROR", msg)
    err.errno = code
  end
  if self:listenerCount("error") > 0 then
    self._destroy_err = err
  end
  -- as Node.js: the session is destroyed with the error, its streams too
  if self._streams then
    for _, st in pairs(self._streams) do
      if not st.destroyed and st._destroy_err == nil then st._destroy_err = err end
    end
  end
  local server = self._server
  if server then
    self._error_told = err
    guarded(server, "Http2Server", "sessionError", err, self)
  end
end

handlers[EV.SESSION_ERROR] = function(self, code, msg, errname)
  sched.spawn(session_error, nil, self, code, msg, errname)
end

-- session:_fail(err): destroys the session with |err| (its 'error', as
-- Node); a server session nobody listens on tells its server's
-- 'sessionError' instead, so the error is never raised from the cleanup.
function methods:_fail(err, code)
  if self.destroyed then return end
  local server = self._server
  if server and self:listenerCount("error") == 0 then
    self:destroy(nil, code or C.NGHTTP2_INTERNAL_ERROR)
    if server:listenerCount("sessionError") > 0 then server:emit("sessionError", err, self) end
    return
  end
  self:destroy(err, code)
end

-- The peer acknowledged our SETTINGS: 'localSettings' and the callback.
handlers[EV.SETTINGS_ACK] = function(self, s)
  local a = table.remove(self._settings_acks, 1)
  s = s or core.session_get_settings(self._box, false) or {}
  rawset(self, "_local_settings", s)
  sched.spawn(function()
    if a and (a.cb or a.co) then
      local d = core.now() - a.t0
      if a.co then sched.wake(a.co, nil, s, d) else a.cb(nil, s, d) end
    end
    self:emit("localSettings", s)
  end)
end

handlers[EV.REMOTE_SETTINGS] = function(self, s)
  rawset(self, "_remote_settings", s)
  if self:listenerCount("remoteSettings") == 0 then return end -- waits listen too
  s = s or core.session_get_settings(self._box, true) or {}
  sched.spawn(function() self:emit("remoteSettings", s) end)
end

-- A PING acknowledged: the oldest outstanding ping with that payload. An
-- ACK of no ping of ours is ignored: RFC 9113 6.7 only forbids answering
-- it, and h2spec (6.7/2) checks the connection stays up. Node.js destroys
-- the session there; docs/api.md says so.
handlers[EV.PING_ACK] = function(self, payload)
  local pings = self._pings
  for i, p in ipairs(pings) do
    if p.payload == payload then
      table.remove(pings, i)
      local d = core.now() - p.t0
      self._ping_rtt = d
      if p.co then sched.wake(p.co, nil, d, payload) else sched.defer(p.cb, nil, d, payload) end
      return
    end
  end
end

handlers[EV.PING] = function(self, payload)
  if self:listenerCount("ping") > 0 then
    sched.spawn(function() self:emit("ping", payload) end)
  end
end

-- A frame we submitted could not be sent: 'frameError' (type, the HTTP/2
-- code, id) on its stream, which closes with that code, or on the session.
handlers[EV.FRAME_ERROR] = function(self, stream, ftype, code, id)
  sched.spawn(function()
    if stream and not stream.destroyed then
      stream:emit("frameError", ftype, code, id)
      if not stream.closed then stream:close(code) end
    else
      self:emit("frameError", ftype, code, id)
    end
  end)
end

-- The peer's PRIORITY frame: 'priority' (id, parent, weight, exclusive)
-- on its stream when Lua has it, else on the session, as Node.
handlers[EV.PRIORITY] = function(self, stream, id, parent, weight, exclusive)
  local target = stream and not stream.destroyed and stream or self
  if target:listenerCount("priority") == 0 then return end
  sched.spawn(function() target:emit("priority", id, parent, weight, exclusive) end)
end

-- Whether a write is still under way, as Node's callTimeout tells it: some
-- stream has bytes waiting to go out, and the connection sent bytes since
-- the last timeout. Node then puts the timeout off instead of emitting it
-- (a peer whose window is shut for a while is not idle yet); the engine's
-- timer runs again by itself.
local function write_in_progress(self)
  local box = self._box
  if not box then return false end
  local pending = false
  for _, st in ipairs(core.session_streams(box)) do
    if not st.destroyed and (st.bufferSize or 0) > 0 then
      pending = true
      break
    end
  end
  local m = core.session_metrics(box)
  local written = m and m.bytesWritten or 0
  local last = self._timeout_written
  self._timeout_written = written
  return pending and written ~= last
end

-- No bytes either way for the timeout: 'timeout' here; a server whose
-- timeout set it tells its 'timeout' listeners, or destroys the session.
handlers[EV.TIMEOUT] = function(self)
  sched.spawn(function()
    if self.destroyed then return end
    if write_in_progress(self) then return end
    local own = guarded(self, "Http2Session", "timeout")
    local server = self._server
    if server and server.timeout and server.timeout > 0 then
      if not guarded(server, "Http2Server", "timeout", self) and not own then self:destroy() end
    end
  end)
end

handlers[EV.STREAM_REFUSED] = function() end -- a stream refused by a limit

-- The peer's GOAWAY: 'goaway', then as Node.js does: NO_ERROR closes the
-- session gracefully (open streams finish, no new ones), any other code
-- destroys it with ERR_HTTP2_SESSION_ERROR.
local function goaway(self, code, last, opaque)
  guarded(self, "Http2Session", "goaway", code, last, opaque)
  if self.destroyed then return end
  if code == C.NGHTTP2_NO_ERROR then
    self:close(function() end)
  else
    self._goaway_code = code -- the open streams' rstCode, as in Node
    if self._server and self:listenerCount("error") == 0 then
      -- nobody listens on the server session: its server's 'sessionError'
      self:_fail(errors.new("ERR_HTTP2_SESSION_ERROR", code), C.NGHTTP2_NO_ERROR)
    else
      self._soft_err = true -- the peer's doing: 'error' only when listened to
      self:destroy(errors.new("ERR_HTTP2_SESSION_ERROR", code), C.NGHTTP2_NO_ERROR)
    end
  end
end

handlers[EV.GOAWAY] = function(self, code, last, opaque)
  sched.spawn(goaway, nil, self, code, last, opaque)
end

handlers[EV.TRAILERS] = Stream._ontrailers
handlers[EV.DATA] = Stream._ondata
handlers[EV.END] = Stream._onend
handlers[EV.DRAIN] = Stream._ondrain
handlers[EV.WANT_TRAILERS] = Stream._onwanttrailers
handlers[EV.STREAM_CLOSE] = Stream._onclose

return Session
