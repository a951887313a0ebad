-- Http2Server: listening, the sessions it accepted, and its events
-- ('listening', 'connection', 'session', 'stream', 'close', 'error').
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local Emitter = require "h2lua.emitter"
local settings = require "http2.settings"
local compat -- http2.compat, loaded with the first 'request' listener
local core = sched.core

local Server = {}
local methods = Emitter.extend({})
Server.methods = methods
Server.__index = methods
Server.__name = "h2lua.Server"

local live = {}  -- listening servers, for shutdown
Server.live = live
-- Called with the server's address when a server starts closing (so
-- h2lua.fetch lets go of idle sessions to it, which would keep it open).
Server.close_hooks = {}

-- h2lua's timeouts (beyond Node.js; docs/api.md), in ms, 0 for none:
-- fields of the server, read by listen().
local TIMEOUTS = {
  handshakeTimeout = 10000,  -- TLS: the handshake done (Node's option; its default is 120000)
  prefaceTimeout = 10000,    -- the first bytes, then the HTTP/2 connection preface
  headersTimeout = 20000,    -- a header block (HTTP/1.1: a request head) complete
  keepAliveTimeout = 120000, -- a session without open streams
}
Server.TIMEOUTS = TIMEOUTS

-- Server._new(options) -> server (options validated by the caller)
function Server._new(options)
  local self = setmetatable({
    _options = options, _settings = options.settings, _sessions = {},
    _nsessions = 0, listening = false, timeout = 0, _events = false, _stream_fn = false,
    _compat = false, _access_log = false,
  }, Server)
  for name, default in pairs(TIMEOUTS) do
    local v = options[name]
    if v == nil then v = default end
    self[name] = v
  end
  -- the access log (beyond Node.js): the option, else h2lua --access-log
  local alog = options.accessLog
  if alog == nil then
    local mod = package.loaded["http2.accesslog"]
    alog = mod and mod.default
  end
  if alog ~= nil then require("http2.accesslog").attach(self, alog) end
  return self
end

local function check_timeouts(self)
  for name in pairs(TIMEOUTS) do
    local v = self[name]
    if type(v) ~= "number" or v ~= v or v < 0 then
      errors.raise("ERR_INVALID_ARG_TYPE", "server." .. name, "a number of ms (>= 0)", errors.describe(v))
    end
  end
end

-- The SETTINGS a server sends: its own, with maxConcurrentStreams 100
-- unless given. An h2lua default (Node.js advertises no limit): what one
-- peer can make the server hold (streams, their handlers' coroutines and
-- buffers) stays bounded, and a peer past it gets REFUSED_STREAM or a
-- PROTOCOL_ERROR from nghttp2 (RFC 9113 5.1.2).
local DEFAULT_MAX_CONCURRENT_STREAMS = 100

local function advertised(s)
  if s and s.maxConcurrentStreams ~= nil then return s end
  local t = { maxConcurrentStreams = DEFAULT_MAX_CONCURRENT_STREAMS }
  for k, v in pairs(s or {}) do t[k] = v end
  return t
end

local function emit_later(self, name, a)
  sched.defer(function() self:emit(name, a) end)
end

-- server:emit('connection', socket) with an open h2lua.net socket or a
-- duplex (net.over's duck type: an HTTP/2 stream, a Lua duplex): the
-- server serves it as a connection it accepted (h2c, or HTTP/1.1 with
-- allowHTTP1), as Node's does with any duplex; the listeners see it too.
function methods:emit(name, a, ...)
  local net = name == "connection" and require("h2lua.net")
  if net and getmetatable(a) ~= net.Socket and net.is_duplex(a) then
    -- an HTTP/2 stream (a CONNECT tunnel unwrapped here) or a Lua duplex:
    -- served through a socket over it; the listeners see the duplex
    if not self._box then
      pcall(a.destroy, a) -- as a socket given here: not listening
    else
      local sock = net.over(a)
      if not core.server_adopt(self._box, sock._box) then sock:destroy()
      else net.live_sockets[sock] = nil end
    end
  elseif net and type(a) == "table" and getmetatable(a) == net.Socket then
    if not self._box or not core.server_adopt(self._box, a._box) then
      -- not listening, or a TLS server given a socket already read from
      a:destroy()
    else
      require("h2lua.net").live_sockets[a] = nil -- the session owns the connection now
    end
  end
  return Emitter.emit(self, name, a, ...)
end

-- Binds |path| (a UNIX domain socket); address() is then the path.
local function listen_path(self, path, backlog, cb)
  if type(backlog) == "function" then backlog, cb = nil, backlog end
  if self._box then errors.raise("ERR_SERVER_ALREADY_LISTEN") end
  check_timeouts(self)
  if cb ~= nil then self:once("listening", cb) end
  -- a relative path is the working directory's, as for Node
  local full = path:sub(1, 1) == "/" and path or ((os.getenv("PWD") or ".") .. "/" .. path)
  local box, code, msg = core.listen(self, full, 0, backlog, self._tls)
  if not box then
    local err = errors.system(code, "listen", "listen " .. code .. ": " .. msg:lower() .. " " .. path,
      { address = path })
    emit_later(self, "error", err)
    return self
  end
  self._box = box
  self._address = path
  self._path = full
  return self:_listening(box)
end

-- server:listen([port][, host][, backlog][, cb]) -> server;
-- server:listen(path[, backlog][, cb]) on a UNIX domain socket
function methods:listen(port, host, backlog, cb)
  local reuse_port
  if type(port) == "table" then
    local o = port
    cb = type(host) == "function" and host or cb
    port, host, backlog, reuse_port = o.path or o.port, o.host, o.backlog, o.reusePort
    if reuse_port ~= nil and type(reuse_port) ~= "boolean" then
      errors.raise("ERR_INVALID_ARG_TYPE", "options.reusePort", "of type boolean",
        errors.describe(reuse_port))
    end
  end
  -- listen(path[, backlog][, cb]): a UNIX domain socket, as Node's
  if type(port) == "string" and not tonumber(port) then
    return listen_path(self, port, host, backlog)
  end
  if type(port) == "function" then port, host, backlog, cb = nil, nil, nil, port end
  if type(host) == "function" then host, backlog, cb = nil, nil, host end
  if type(host) == "number" then host, backlog, cb = nil, host, backlog end
  if type(backlog) == "function" then backlog, cb = nil, backlog end
  if port == nil then port = 0 end
  if type(port) == "string" and tonumber(port) then port = tonumber(port) end
  if math.type(port) ~= "integer" or port < 0 or port > 65535 then
    errors.raise("ERR_SOCKET_BAD_PORT", "Port should be >= 0 and < 65536. Received " .. tostring(port) .. ".")
  end
  if self._box then errors.raise("ERR_SERVER_ALREADY_LISTEN") end
  check_timeouts(self)
  if cb ~= nil then self:once("listening", cb) end
  local box, real_port, addr, family = core.listen(self, host, port, backlog, self._tls, reuse_port)
  if not box then
    local code, msg = real_port, addr
    local where = (host or "::") .. ":" .. port
    local err = errors.system(code, "listen",
      "listen " .. code .. ": " .. msg:lower() .. " " .. where,
      { address = host or "::", port = port })
    emit_later(self, "error", err)
    return self
  end
  self._box = box
  self._address = { address = addr, family = family, port = real_port }
  return self:_listening(box)
end

-- What listening starts with, on a port or a path.
function methods:_listening(box)
  self.listening = true
  live[self] = true
  core.server_settings(box, settings.flatten(advertised(self._settings)))
  core.server_options(box, self._options)
  core.server_session_listeners(box, self:listenerCount("session") > 0)
  core.server_timeouts(box, self.handshakeTimeout, self.prefaceTimeout,
    self.headersTimeout, self.keepAliveTimeout)
  for host, ctx in pairs(self._sni or {}) do core.server_add_context(box, host, ctx) end
  emit_later(self, "listening")
  return self
end

-- server:address() -> {address=, family=, port=} | nil
function methods:address()
  if not self.listening then return nil end
  local a = self._address
  if type(a) == "string" then return a end -- a UNIX domain socket's path
  return { address = a.address, family = a.family, port = a.port }
end

local function maybe_closed(self)
  if self._closing and self._nsessions == 0 and not self._close_emitted then
    self._close_emitted = true
    live[self] = nil
    emit_later(self, "close")
  end
end

-- server:close([cb]) -> server: stops accepting; 'close' once every session
-- ended. Without cb, inside a coroutine, waits for that.
function methods:close(cb)
  errors.check_function(cb, "callback", true)
  if not self.listening then
    if cb then sched.defer(cb, errors.new("ERR_SERVER_NOT_RUNNING")) end
    return self
  end
  core.server_close(self._box)
  self._box = nil
  if self._path then -- the socket file goes with the listener, as in Node
    os.remove(self._path)
    self._path = nil
  end
  self.listening = false
  self._closing = true
  for _, hook in ipairs(Server.close_hooks) do hook(self._address) end
  -- as Node.js (allowHTTP1): HTTP/1.1 connections close once idle, the
  -- idle ones now
  for session in pairs(self._sessions) do
    if not session.closed and session._box and core.session_close(session._box, true) then
      session.closed = true
    end
  end
  self._close_emitted = false
  if cb then self:once("close", cb) end
  maybe_closed(self)
  if cb == nil and sched.waitable() and not self._close_emitted then
    self:wait("close")
  end
  return self
end

-- server:setTimeout([msecs][, cb]) -> server: sessions accepted from now on
-- get an inactivity timeout; on it, 'timeout' here (or the session is
-- destroyed when nobody listens)
function methods:setTimeout(ms, cb)
  if type(ms) == "function" then ms, cb = nil, ms end
  if ms ~= nil and (type(ms) ~= "number" or ms ~= ms or ms < 0) then
    errors.raise("ERR_INVALID_ARG_TYPE", "msecs", "of type number", errors.describe(ms))
  end
  if cb ~= nil then
    errors.check_function(cb, "callback")
    self:on("timeout", cb)
  end
  self.timeout = ms or 0
  return self
end

-- server:updateSettings(settings) -> nil: the SETTINGS new sessions send
function methods:updateSettings(s)
  if type(s) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "settings", "of type table", errors.describe(s))
  end
  local v = settings.validate(s)
  local cur = self._settings or {}
  for k, val in pairs(v) do cur[k] = val end
  self._settings = cur
  if self._box then core.server_settings(self._box, settings.flatten(advertised(cur))) end
end

-- server:setSecureContext(options) -> nil: a new certificate (and the rest
-- of the TLS options) for connections accepted from now on
function methods:setSecureContext(options)
  if not self._tls then errors.raise("ERR_INVALID_ARG_VALUE", "server", "not a secure server") end
  if type(options) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
  end
  local merged = {}
  for k, v in pairs(self._options) do merged[k] = v end
  for k, v in pairs(options) do merged[k] = v end
  self._tls = require("http2.tls").context(merged, true)
  if self._box then core.server_set_context(self._box, self._tls) end
end

-- server:addContext(hostname, {key=, cert=, ...}) -> nil: the certificate
-- for that SNI name ("*.example.com" matches one label)
function methods:addContext(hostname, options)
  if not self._tls then errors.raise("ERR_INVALID_ARG_VALUE", "server", "not a secure server") end
  if type(hostname) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "hostname", "of type string", errors.describe(hostname))
  end
  if type(options) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "context", "of type table", errors.describe(options))
  end
  local merged = {}
  for k, v in pairs(self._options) do merged[k] = v end
  for k, v in pairs(options) do merged[k] = v end
  local ctx = require("http2.tls").context(merged, true)
  self._sni = self._sni or {}
  self._sni[hostname] = ctx
  if self._box then core.server_add_context(self._box, hostname, ctx) end
end

-- server:ref() / unref() -> server
function methods:ref()
  if self._box then core.server_ref(self._box, true) end
  return self
end
function methods:unref()
  if self._box then core.server_ref(self._box, false) end
  return self
end

-- One-shot events a wait must not miss.
function methods:_sticky(name)
  if name == "listening" then
    if self.listening then return true end
  elseif name == "close" then
    if self._close_emitted and not self.listening then return true end
  end
  return nil
end

function methods:_addsession(session)
  self._sessions[session] = true
  self._nsessions = self._nsessions + 1
  -- accepted before a graceful shutdown closed the server, known after:
  -- its GOAWAY goes once the requests that came with its preface are in
  if self._closing and Server.draining then
    sched.defer(function() session:close(function() end) end)
  end
end

function methods:_removesession(session)
  if self._sessions[session] then
    self._sessions[session] = nil
    self._nsessions = self._nsessions - 1
    maybe_closed(self)
  end
end

-- A new stream on one of our sessions: 'stream' here too, and the
-- Compatibility API's 'request' once anyone listens to that.
function methods:_onstream(stream, headers, flags, raw)
  local handled = self:emit("stream", stream, headers, flags, raw)
  if self._compat then handled = compat.dispatch(self, stream, headers, raw) or handled end
  return handled
end

-- rawHeaders are built only for sessions whose listeners can take them.
local function want_raw(self)
  if self._want_raw then return end
  self._want_raw = true
  for session in pairs(self._sessions) do
    if session._box then core.session_want_raw(session._box, true) end
  end
end

function methods:_onlisten(name, fn)
  if name == "request" then
    compat = compat or require "http2.compat"
    self._compat = true
    want_raw(self)
  elseif name == "stream" and require("http2.session").takes_raw(fn) then
    want_raw(self)
  elseif name == "session" and self._box then
    core.server_session_listeners(self._box, true)
  end
end

-- TLS up, but no h2 agreed: 'unknownProtocol' with the socket; when
-- nobody listens the connection gets a 403 saying why and is closed at
-- once, else after unknownProtocolTimeout unless the listener closed it.
local MISSING_ALPN = "HTTP/1.0 403 Forbidden\r\nContent-Type: text/plain\r\n\r\n" ..
  "Missing ALPN Protocol, expected `h2` to be available.\n" ..
  "This server speaks HTTP/2 only over TLS: enable allowHTTP1 or listen for 'unknownProtocol' for others.\n"
sched.handlers[sched.EV.UNKNOWN_PROTOCOL] = function(self, box, raddr, rport, laddr, lport, family)
  local Session = require "http2.session"
  local s = Session._new(self, box, raddr, rport, laddr, lport, family)
  s.alpnProtocol = false
  s._plain_socket = true -- Node's is a TLS socket: it stays readable
  require("http2.tls").socket_details(s.socket, box)
  s.socket.destroy = function() s:destroy() end
  s.socket["end"] = s.socket.destroy
  sched.spawn(function()
    if not self:emit("unknownProtocol", s.socket) then
      -- as Node, a few lines a TLS client speaking HTTP/1.x can show
      s.closed, s.destroyed = true, true
      core.session_refuse(box, MISSING_ALPN)
      return
    end
    local t = require("h2lua.timers").setTimeout(function()
      if not s.destroyed then s:destroy() end
    end, self._options.unknownProtocolTimeout or 10000)
    t:unref()
    s:once("close", function() require("h2lua.timers").clearTimeout(t) end)
  end)
  return s
end

-- SNICallback(servername, cb): asked during the handshake for names no
-- addContext covers. It must call cb(err, secureContext) before it
-- returns (the handshake cannot wait for Lua); nothing or an error keeps
-- the default certificate.
sched.handlers[sched.EV.SNI] = function(self, servername)
  local fn = self._options.SNICallback
  if type(fn) ~= "function" then return nil end
  local answer
  local ok, err = pcall(fn, servername, function(e, sc)
    if e == nil and type(sc) == "table" then answer = sc.context end
  end)
  if not ok then require("h2lua.log").warn("SNICallback: ", err) end
  return answer
end

-- A failed TLS handshake: 'tlsClientError' (err, socket); nothing else is
-- disturbed.
sched.handlers[sched.EV.TLS_ERROR] = function(self, why, raddr, rport)
  if self:listenerCount("tlsClientError") == 0 then return end
  local code, msg = why:match("^(%S+) (.*)$")
  local err = errors.new("ERR_TLS_CONTEXT", msg or why)
  err.code = code or "ERR_SSL_HANDSHAKE"
  sched.spawn(function()
    self:emit("tlsClientError", err, { remoteAddress = raddr, remotePort = rport })
  end)
end

sched.handlers[sched.EV.SERVER_ERROR] = function(self, errno)
  sched.spawn(function()
    if self:listenerCount("error") > 0 then
      self:emit("error", errors.system("EACCEPT", "accept", "accept failed: errno " .. errno))
    end
  end)
end

return Server
