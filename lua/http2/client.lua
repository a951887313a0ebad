-- The client side: http2.connect, ClientHttp2Session:request and the
-- events of client streams ('response', 'headers', 'continue', 'trailers',
-- 'push'). Sessions and streams are the same classes as the server's;
-- only what differs lives here.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local C = require "http2.constants"
local headers_mod = require "http2.headers"
local settings_mod = require "http2.settings"
local Session = require "http2.session"
local Stream = require "http2.stream"
local core = sched.core

local M = {}
local handlers = sched.handlers
local EV = sched.EV
local END_HEADERS, END_STREAM = C.NGHTTP2_FLAG_END_HEADERS, C.NGHTTP2_FLAG_END_STREAM

-- Parses an authority: "http://host:port/...", or a table {protocol=,
-- hostname= (or host=), port=} or {origin=}. -> protocol, host, port
local function parse_authority(a)
  if type(a) == "table" then
    if a.origin then return parse_authority(a.origin) end
    local protocol = a.protocol or "http:"
    local host = a.hostname or a.host or "localhost"
    host = host:gsub("^%[(.*)%]$", "%1")
    local port = tonumber(a.port) or (protocol == "https:" and 443 or 80)
    return protocol, host, math.tointeger(port)
  end
  if type(a) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "authority", "of type string or table", errors.describe(a))
  end
  local protocol, rest = a:match("^(%a[%w+.-]*:)//(.*)$")
  if not protocol then
    errors.raise("ERR_INVALID_URL", "Invalid URL: " .. a)
  end
  local hostport = rest:match("^([^/?#]*)")
  local host, port = hostport:match("^%[(.+)%]:?(%d*)$")
  if not host then host, port = hostport:match("^([^:]*):?(%d*)$") end
  if not host or host == "" then errors.raise("ERR_INVALID_URL", "Invalid URL: " .. a) end
  port = tonumber(port) or (protocol == "https:" and 443 or 80)
  return protocol:lower(), host, math.tointeger(port)
end
M.parse_authority = parse_authority

-- http2.connect(authority[, options][, listener]) -> ClientHttp2Session
function M.connect(authority, options, listener)
  if type(options) == "function" then options, listener = nil, options end
  if options == nil then options = {} end
  if type(options) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
  end
  if listener ~= nil and type(listener) ~= "function" then
    errors.raise("ERR_INVALID_ARG_TYPE", "listener", "of type function", errors.describe(listener))
  end
  local protocol, host, port = parse_authority(authority)
  if protocol ~= "http:" and protocol ~= "https:" then
    errors.raise("ERR_HTTP2_UNSUPPORTED_PROTOCOL", ('protocol "%s" is unsupported.'):format(protocol))
  end
  errors.check_function(options.createConnection, "options.createConnection", true)
  options = settings_mod.validate_options(options)
  local s = settings_mod.validate(options.settings)
  local session = Session._new_client(options, protocol, (options.servername or host) .. ":" .. port)
  session._settings_sent = s
  if s.enableConnectProtocol then session._connect_protocol = true end
  if options.createConnection then
    -- the caller's socket (an h2lua.net socket) carries the session: h2c
    local net = require "h2lua.net"
    local sock = options.createConnection(authority, options)
    if getmetatable(sock) ~= net.Socket or sock.destroyed then
      errors.raise("ERR_INVALID_RETURN_VALUE",
        "createConnection must return an open h2lua.net socket")
    end
    net.live_sockets[sock] = nil -- the session owns the connection now
    session.alpnProtocol = "h2c"
    session._box = core.connect_over(session, sock._box, host, options, settings_mod.flatten(s))
    if listener then session:once("connect", listener) end
    return session
  end
  local ctx
  if protocol == "https:" then
    ctx = require("http2.tls").context(options, false)
    session.alpnProtocol = "h2"
  end
  session._box = core.connect(session, host, port, ctx, options.servername or host,
    options, settings_mod.flatten(s))
  if listener then session:once("connect", listener) end
  return session
end

local function raise_if_bad_headers(headers)
  for k in pairs(headers) do
    if type(k) == "string" and k:byte(1) == 58 and not headers_mod.valid_pseudo[k:lower()] then
      errors.raise("ERR_HTTP2_INVALID_PSEUDOHEADER", k)
    end
  end
end

local no_payload = { GET = true, HEAD = true, DELETE = true }

-- session:request([headers][, options]) -> ClientHttp2Stream
function Session.methods:request(headers, options)
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
  for _, k in ipairs({ "exclusive", "waitForTrailers" }) do
    if options[k] ~= nil and type(options[k]) ~= "boolean" then
      errors.raise("ERR_INVALID_ARG_TYPE", "options." .. k, "of type boolean", errors.describe(options[k]))
    end
  end
  local parent, weight = options.parent, options.weight
  if parent ~= nil and (math.type(parent) ~= "integer" or parent < 0) then
    errors.raise("ERR_OUT_OF_RANGE", "options.parent", ">= 0", parent)
  end
  if weight ~= nil and (math.type(weight) ~= "integer" or weight < 1 or weight > 256) then
    errors.raise("ERR_OUT_OF_RANGE", "options.weight", ">= 1 && <= 256", weight)
  end
  local n, sens = headers_mod.flatten(h, headers_mod.request_pseudo)
  local stream = Stream._new(self, false, nil)
  stream.headersSent = true
  stream.sentHeaders = h
  if end_stream then stream.writableEnded = true end
  stream._trailers_later = options.waitForTrailers == true
  local id, why = core.request(self._box, stream, end_stream, sens, parent, weight,
    options.exclusive == true, options.waitForTrailers == true,
    table.unpack(headers_mod.flat, 1, n))
  if not id then
    id = why
    if id == C.NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE then
      errors.raise("ERR_HTTP2_OUT_OF_STREAMS")
    end
    errors.raise("ERR_HTTP2_ERROR", core.strerror(id))
  end
  self._streams[id] = stream
  sched.defer(Stream._emit, stream, "ready")
  return stream
end

local function emit_headers(stream, headers, end_stream, raw)
  local flags = end_stream and (END_HEADERS | END_STREAM) or END_HEADERS
  local status = headers[":status"]
  if stream._pushed and not stream._push_seen then
    stream._push_seen = true
    stream:emit("push", headers, flags)
  elseif status and status >= 100 and status < 200 then
    stream:emit("headers", headers, flags)
    if status == 100 then stream:emit("continue") end
  elseif status and not stream._response then
    stream._response, stream._response_flags, stream._response_raw = headers, flags, raw
    stream:emit("response", headers, flags, raw)
  else
    stream.trailers = headers
    stream:emit("trailers", headers, flags)
  end
end

handlers[EV.HEADERS] = function(stream, headers, raw, end_stream)
  if end_stream then stream._remote_ended = true end
  sched.spawn(emit_headers, stream, stream, headers, end_stream, raw)
end

local function connected(self)
  self:emit("connect", self, self.socket)
end

handlers[EV.CONNECT] = function(self, raddr, rport, laddr, lport, family)
  self.connecting = false
  local sock = self.socket
  if self.encrypted then require("http2.tls").socket_details(sock, self._box) end
  sock.remoteAddress, sock.remotePort = raddr, rport
  sock.localAddress, sock.localPort = laddr, lport
  sock.remoteFamily = family == 6 and "IPv6" or "IPv4"
  sched.spawn(connected, nil, self)
end

handlers[EV.CONNECT_ERROR] = function(self, errno, text)
  local code, msg = text:match("^(%S+) (.*)$")
  local host, port = self._authority:match("^(.*):(%d+)$")
  if code and not code:match("^E[A-Z]+$") then
    -- TLS: a certificate that does not verify, a failed handshake, no h2
    local err = errors.new("ERR_TLS_CONTEXT", msg)
    err.code = code
    self._destroy_err = err
    self.destroyed = true
    self.closed = true
    return
  end
  local syscall = code == "ENOTFOUND" and "getaddrinfo" or "connect"
  local err = errors.system(code or "EIO", syscall,
    syscall .. " " .. tostring(code) .. " " .. (code == "ENOTFOUND" and host or self._authority) ..
    (msg and msg ~= "" and (" (" .. msg .. ")") or ""),
    { address = host, port = tonumber(port), hostname = host })
  self._destroy_err = err
  self.destroyed = true
  self.closed = true
end

-- ALTSVC (RFC 7838) and ORIGIN (RFC 8336) frames from the server.
handlers[EV.ALTSVC] = function(self, stream_id, origin, alt)
  sched.spawn(function() self:emit("altsvc", alt, origin, stream_id) end)
end

handlers[EV.ORIGIN] = function(self, origins)
  local set = rawget(self, "_origin_set") or self.originSet or {}
  for _, o in ipairs(origins) do set[#set + 1] = o end
  self._origin_set = set
  sched.spawn(function() self:emit("origin", origins) end)
end

-- A pushed stream (client side): 'stream' on the session, or refused.
local function pushed(session, stream, headers, raw)
  local flags = END_HEADERS
  if not session:emit("stream", stream, headers, flags, raw) then
    stream:close(C.NGHTTP2_CANCEL)
  end
end

-- A client session gets EV.STREAM for a PUSH_PROMISE (server sessions get
-- their requests through the engine's own path).
handlers[EV.STREAM] = function(session, stream, headers, raw, end_stream, id, parent)
  if headers[":method"] == "HEAD" then stream._head = true end
  stream._pushed = true
  stream.headersSent = true
  stream.writableEnded = true
  stream._push_parent = session._streams[parent]
  session._streams[id] = stream
  sched.spawn(pushed, stream, session, stream, headers, raw)
  return stream
end

return M
