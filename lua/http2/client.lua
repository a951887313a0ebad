-- The client side: http2.connect (session:request is in session.lua) and the
-- events of client streams ('response', 'headers', 'continue', 'trailers',
-- 'push'). Sessions and streams are the same classes as the server's;
-- only what differs lives here.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local C = require "http2.constants"
local settings_mod = require "http2.settings"
local Session = require "http2.session"
local Stream = require "http2.stream"
local core = sched.core

local M = {}
local handlers = sched.handlers
local EV = sched.EV
local END_HEADERS, END_STREAM = C.NGHTTP2_FLAG_END_HEADERS, C.NGHTTP2_FLAG_END_STREAM
local misdirected

-- Parses an authority: "http://host:port/...", or a table {protocol=,
-- hostname= (or host=), port=} or {origin=}. -> protocol, host, port. As
-- in Node.js a table without a protocol takes |default_protocol| (else
-- "https:"), and its default port is 80 only for an explicit "http:".
local function parse_authority(a, default_protocol)
  if type(a) == "table" then
    if a.origin then return parse_authority(a.origin) end
    local protocol = a.protocol or default_protocol or "https:"
    local host = a.hostname or a.host or "localhost"
    host = host:gsub("^%[(.*)%]$", "%1")
    local port = tonumber(a.port) or (a.protocol == "http:" and 80 or 443)
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

-- Whether |s| is an IPv4 or IPv6 literal (net.isIP, roughly: the engine
-- parses it for real).
local function is_ip(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if a then
    for _, x in ipairs({ a, b, c, d }) do if tonumber(x) > 255 then return false end end
    return true
  end
  return s:find(":", 1, true) ~= nil and s:match("^[%x:.]+$") ~= nil
end

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
  local protocol, host, port = parse_authority(authority, options.protocol)
  if protocol ~= "http:" and protocol ~= "https:" then
    errors.raise("ERR_HTTP2_UNSUPPORTED_PROTOCOL", ('protocol "%s" is unsupported.'):format(protocol))
  end
  errors.check_function(options.createConnection, "options.createConnection", true)
  options = settings_mod.validate_options(options)
  -- an empty servername is none (JavaScript's falsy ''), as Node.js reads it
  if options.servername == "" then options.servername = nil end -- (a copy)
  local s = settings_mod.validate(options.settings)
  local session = Session._new_client(options, protocol, (options.servername or host) .. ":" .. port)
  session._settings_sent = s
  if s.enableConnectProtocol then session._connect_protocol = true end
  if protocol == "https:" and options.socket ~= nil and options.createConnection == nil then
    -- as Node.js, whose tls.connect() takes it: TLS (ALPN h2) over that
    -- socket, connected or still connecting, instead of a connection of
    -- our own (http: ignores it, as Node's net.connect does)
    local tls_options = {}
    for k, v in pairs(options) do tls_options[k] = v end
    tls_options.servername = options.servername or host
    tls_options.ALPNProtocols = { "h2" }
    options.createConnection = function()
      return require("h2lua.net").tls_connect(tls_options)
    end
  end
  if options.createConnection then
    -- the caller's socket (an h2lua.net socket) carries the session: h2c
    local net = require "h2lua.net"
    local sock = options.createConnection(authority, options)
    if getmetatable(sock) ~= net.Socket and net.is_duplex(sock) then
      -- an HTTP/2 stream (a session tunnelled in a CONNECT stream) or a
      -- Lua duplex: the session's bytes go through it
      sock = net.over(sock)
    end
    if getmetatable(sock) ~= net.Socket or sock.destroyed then
      errors.raise("ERR_INVALID_RETURN_VALUE",
        "createConnection must return an open h2lua.net socket or a duplex")
    end
    net.live_sockets[sock] = nil -- the session owns the connection now
    -- an h2lua.tls socket: HTTP/2 over its TLS (ALPN h2 checked once its
    -- handshake is done), the TLS facts as an https: session's
    session.encrypted = sock.encrypted == true
    session.alpnProtocol = sock.encrypted and "h2" or "h2c"
    session._box = core.connect_over(session, sock._box, host, options, settings_mod.flatten(s))
    if listener then session:once("connect", listener) end
    return session
  end
  local ctx
  if protocol == "https:" then
    ctx = require("http2.tls").context(options, false)
    session.alpnProtocol = "h2"
  end
  -- options.host and options.port, when given, say where to connect (the
  -- :authority and the TLS server name stay the authority's), as in Node.js
  local to_host, to_port = host, port
  if options.host ~= nil then
    if type(options.host) ~= "string" then
      errors.raise("ERR_INVALID_ARG_TYPE", "options.host", "of type string", errors.describe(options.host))
    end
    to_host = options.host:gsub("^%[(.*)%]$", "%1")
  end
  if options.port ~= nil then
    local p = tonumber(options.port)
    if not p or p < 0 or p > 65535 or p ~= math.floor(p) then
      errors.raise("ERR_SOCKET_BAD_PORT", tostring(options.port))
    end
    to_port = math.tointeger(p)
  end
  local la = options.localAddress
  if la ~= nil then
    if type(la) ~= "string" then
      errors.raise("ERR_INVALID_ARG_TYPE", "options.localAddress", "of type string", errors.describe(la))
    end
    if not is_ip(la) then errors.raise("ERR_INVALID_IP_ADDRESS", la) end
  end
  session._box = core.connect(session, to_host, to_port, ctx, options.servername or host,
    options, settings_mod.flatten(s))
  if listener then session:once("connect", listener) end
  return session
end


-- 421 Misdirected Request: the stream's origin leaves the originSet (RFC
-- 8336 / Node.js).
misdirected = function(stream)
  local session = stream.session
  if not session.encrypted then return end
  local sent = stream.sentHeaders or {}
  local scheme, authority = sent[":scheme"], sent[":authority"] or sent.host
  if not scheme or not authority then return end
  local gone = Session.url_origin(scheme, authority)
  local set = session.originSet
  local kept = {}
  for _, o in ipairs(set) do
    if Session.url_origin(o:match("^([^:]+)://(.*)$")) ~= gone then kept[#kept + 1] = o end
  end
  session._origin_set = kept
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
    if status == 421 then misdirected(stream) end
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
  if not self.encrypted then return end -- RFC 8336 and Node.js: TLS only
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
  Stream.as_client(stream)
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
