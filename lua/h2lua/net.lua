-- h2lua.net: TCP sockets and servers, Node's net module in the shape
-- API.md gives it (enough for CONNECT tunnels and createConnection):
-- connect, createServer, sockets with write/finish/destroy/setNoDelay/pipe,
-- 'connect'/'data'/'end'/'close'/'error', read()/readAll() in coroutines.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local Emitter = require "h2lua.emitter"
local core = sched.core

local M = {}
local HIGH_WATER_MARK = 16384
-- what writes made after false (before 'drain') may add, as for streams:
-- a writer that ignores false fills memory without it
local MAX_IGNORED = 64 * HIGH_WATER_MARK
M.MAX_IGNORED = MAX_IGNORED
local live_sockets, live_servers = {}, {}  -- for shutdown and tests
M.live_sockets, M.live_servers = live_sockets, live_servers

local Socket = Emitter.extend({})
Socket.__index = Socket
Socket.__name = "h2lua.net.Socket"
M.Socket = Socket

local function new_socket(box)
  local s = setmetatable({ _box = box, connecting = true, destroyed = false,
    _ended = false, _remote_ended = false, _flowing = false, _reader = false,
    _events = false, _waiters = false }, Socket)
  live_sockets[s] = true
  return s
end

local function fill_addresses(self)
  local ra, rp, la, lp = core.net_info(self._box)
  self.remoteAddress, self.remotePort, self.localAddress, self.localPort = ra, rp, la, lp
end

-- A relative path is the working directory's.
local function full_path(path)
  return path:sub(1, 1) == "/" and path or ((os.getenv("PWD") or ".") .. "/" .. path)
end

-- net.connect(port[, host][, onConnect]) or net.connect{port=, host=};
-- net.connect(path[, onConnect]) or {path=}: a UNIX domain socket
function M.connect(port, host, cb)
  if type(port) == "table" then
    cb = type(host) == "function" and host or cb
    port, host = port.path or port.port, port.host
  end
  if type(host) == "function" then host, cb = nil, host end
  if type(port) == "string" and not tonumber(port) then
    errors.check_function(cb, "callback", true)
    local s = new_socket(false)
    s._box = core.net_connect(s, full_path(port), 0)
    s._host = port
    if cb then s:once("connect", cb) end
    return s
  end
  if math.type(tonumber(port)) ~= "integer" then
    errors.raise("ERR_SOCKET_BAD_PORT", "Port should be >= 0 and < 65536. Received " .. tostring(port) .. ".")
  end
  errors.check_function(cb, "callback", true)
  local s = new_socket(false)
  s._box = core.net_connect(s, host or "localhost", math.tointeger(tonumber(port)))
  s._host, s._port = host or "localhost", tonumber(port)
  if cb then s:once("connect", cb) end
  return s
end
M.createConnection = M.connect

-- ALPN's wire format of a list of protocol names
local function alpn_wire(list)
  if list == nil then return "" end
  if type(list) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options.ALPNProtocols", "of type table", errors.describe(list))
  end
  local parts = {}
  for i, name in ipairs(list) do
    if type(name) ~= "string" or #name == 0 or #name > 255 then
      errors.raise("ERR_INVALID_ARG_VALUE", "options.ALPNProtocols[" .. i .. "]", "a protocol name", errors.describe(name))
    end
    parts[#parts + 1] = string.char(#name) .. name
  end
  return table.concat(parts)
end

-- tls.connect(options[, onSecureConnect]): a TLS client socket, as
-- net.connect's with Node's tls options: port, host, servername (SNI and
-- the name checked; host's by default), ca, cert, key, passphrase,
-- rejectUnauthorized, ciphers, minVersion, maxVersion, ALPNProtocols (none
-- offered unless given). 'connect' and 'secureConnect' once the handshake
-- is done; a certificate that does not verify is an 'error' with Node's
-- code (UNABLE_TO_GET_ISSUER_CERT_LOCALLY, ERR_TLS_CERT_ALTNAME_INVALID, ...).
function M.tls_connect(options, cb)
  if type(options) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
  end
  errors.check_function(cb, "callback", true)
  if options.socket ~= nil then
    -- TLS over a given duplex (an HTTP/2 stream, a socket, a Lua duplex)
    if not M.is_duplex(options.socket) then
      errors.raise("ERR_INVALID_ARG_TYPE", "options.socket", "a duplex (write() and on())",
        errors.describe(options.socket))
    end
    local servername = options.servername
    if servername == "" or servername == nil then servername = options.host or "localhost" end
    if type(servername) ~= "string" then
      errors.raise("ERR_INVALID_ARG_TYPE", "options.servername", "of type string", errors.describe(servername))
    end
    local s = M.over(options.socket, { context = require("http2.tls").context(options, false),
      servername = servername, alpn = alpn_wire(options.ALPNProtocols) })
    s._host = servername
    if cb then s:once("secureConnect", cb) end
    return s
  end
  local port = options.port
  if math.type(tonumber(port)) ~= "integer" then
    errors.raise("ERR_SOCKET_BAD_PORT", "Port should be >= 0 and < 65536. Received " .. tostring(port) .. ".")
  end
  local host = options.host or "localhost"
  local servername = options.servername
  if servername == "" then servername = nil end
  if servername ~= nil and type(servername) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options.servername", "of type string", errors.describe(servername))
  end
  local ctx = require("http2.tls").context(options, false)
  local alpn = alpn_wire(options.ALPNProtocols)
  local s = new_socket(false)
  s.encrypted = true
  s._box = core.net_connect_tls(s, host, math.tointeger(tonumber(port)), ctx, servername or host, alpn)
  s._host, s._port = host, tonumber(port)
  if cb then s:once("secureConnect", cb) end
  return s
end

-- Whether |x| passes for a duplex: an object with write() and on() (an
-- Http2Stream, an h2lua.net socket, or one made in Lua; see M.over).
function M.is_duplex(x)
  local t = type(x)
  if t ~= "table" and t ~= "userdata" then return false end
  -- a session's socket proxy (what servers emit as 'connection' for
  -- their own connections) carries no bytes of its own
  local mt = getmetatable(x)
  if type(mt) == "table" and rawget(mt, "__name") == "h2lua.Socket" then return false end
  local ok, w, on = pcall(function() return x.write, x.on end)
  return ok and type(w) == "function" and type(on) == "function"
end

local function ended_or_gone(s) return s._ended or s.destroyed end

-- Calls the duplex's finish() (or end()) once, unless it has ended;
-- errors of a duplex already gone are its own.
local function end_duplex(near)
  local d = near._duplex
  if near._duplex_ended or d.destroyed or d.writableEnded then return end
  near._duplex_ended = true
  local f = d.finish or d["end"]
  if f then pcall(f, d) end
end

-- net.over(duplex[, tls]) -> socket: a socket whose bytes travel through
-- |duplex| instead of a descriptor, so a connection (an HTTP/2 session,
-- TLS) can run inside an HTTP/2 stream or any Lua duplex. The duplex
-- needs write(chunk[, cb]) returning false when it wants 'drain' to
-- follow, finish() or end(), destroy([err]), on(), and emits 'data'
-- (strings), 'end', 'close', optionally 'drain' and 'error' (forwarded
-- to the socket); pause()/resume(), when present, give backpressure the
-- other way. |tls| = {context=, servername=, alpn=}: the socket is a TLS
-- client over the duplex ('connect' once its handshake is done).
-- Destroying the socket destroys the duplex; the duplex's end or close
-- is the socket's end.
function M.over(duplex, tls)
  local near, far = new_socket(false), new_socket(false)
  local ok, a, b
  if tls then
    ok, a, b = pcall(core.net_pair, near, far, tls.context, tls.servername, tls.alpn)
    near.encrypted = true
  else
    ok, a, b = pcall(core.net_pair, near, far)
    near.connecting = false
  end
  if not ok then -- out of descriptors: no socket was made
    live_sockets[near], live_sockets[far] = nil, nil
    error(a, 2)
  end
  near._box, far._box = a, b
  far.connecting = false
  near._duplex, near._far = duplex, far
  -- the duplex's bytes into the pair
  duplex:on("data", function(chunk)
    if ended_or_gone(far) then return end
    if not far:write(chunk) and duplex.pause and duplex.resume and not near._duplex_paused then
      near._duplex_paused = true
      duplex:pause()
      far:once("drain", function()
        near._duplex_paused = false
        duplex:resume()
      end)
    end
  end)
  local function duplex_done()
    if not ended_or_gone(far) then far:finish() end
  end
  duplex:on("end", duplex_done)
  duplex:on("close", function()
    duplex_done()
    -- a tunnel reset under the socket: its error, as Node's socket over
    -- a stream reports (the stream's own 'error' forwarded already when
    -- it had one)
    local code = duplex.rstCode
    if not near._duplex_err and math.type(code) == "integer" and code ~= 0 and
      near:listenerCount("error") > 0 then
      local names = require("http2.stream").code_names
      near:emit("error", errors.new("ERR_HTTP2_STREAM_ERROR", names[code] or tostring(code)))
    end
  end)
  duplex:on("error", function(err)
    near._duplex_err = err
    if near:listenerCount("error") > 0 then near:emit("error", err) end
  end)
  -- the pair's bytes out through the duplex
  far:on("data", function(chunk)
    if duplex.destroyed then return end
    local ok, more = pcall(duplex.write, duplex, chunk)
    if not ok then
      far:destroy() -- the duplex cannot take bytes: the connection over it ends
    elseif more == false and far._flowing then
      far:pause()
      duplex:once("drain", function() far:resume() end)
    end
  end)
  far:on("end", function() end_duplex(near) end)
  return near
end

-- net._open_read(path) -> socket | nil, errname: a FIFO's bytes as a
-- socket's input (for respondWithFile)
function M._open_read(path)
  local s = new_socket(false)
  local box, why = core.net_open_read(s, path)
  if not box then
    live_sockets[s] = nil
    return nil, why
  end
  s._box = box
  s.connecting = false
  return s
end

-- socket:write(data[, cb]) -> bool (false above the high-water mark).
-- Raises ERR_STREAM_WRITE_AFTER_END, and ERR_H2LUA_WRITE_BUFFER_FULL (the
-- socket destroyed with it) once writes made after false add more than
-- 1 MiB before 'drain'.
function Socket:write(data, cb)
  if type(data) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "chunk", "of type string", errors.describe(data))
  end
  if self._ended or self.destroyed then
    local err = errors.new("ERR_STREAM_WRITE_AFTER_END")
    if cb then sched.defer(cb, err) end
    error(err, 2)
  end
  if self._need_drain then
    local ignored = (self._ignored or 0) + #data
    if ignored > MAX_IGNORED then
      local err = errors.new("ERR_H2LUA_WRITE_BUFFER_FULL", ("more than %d bytes written " ..
        "after write() returned false, without waiting for 'drain'"):format(MAX_IGNORED))
      self:destroy(err)
      error(err, 2)
    end
    self._ignored = ignored
  end
  local n = core.net_write(self._box, data, cb ~= nil)
  if cb then self:once("_drained", cb) end
  if n and n >= HIGH_WATER_MARK then
    self._need_drain = true
    core.net_write(self._box, "", true)
    return false
  end
  return true
end

-- socket:finish([data]) -> socket: half-close after the data (FIN)
function Socket:finish(data)
  if data ~= nil then self:write(data) end
  if not self._ended then
    self._ended = true
    core.net_end(self._box)
  end
  return self
end
Socket["end"] = Socket.finish

-- socket:destroy([err]) -> socket
function Socket:destroy(err)
  if self.destroyed then return self end
  self.destroyed = true
  self._destroy_err = err
  core.net_destroy(self._box)
  local d = self._duplex
  if d then -- a socket over a duplex (net.over): the tunnel goes too
    self._far:destroy()
    -- ended first, then destroyed: an HTTP/2 stream resets with CANCEL
    -- (our side done, the peer's cut), as Node's socket over one does
    end_duplex(self)
    if not d.destroyed then pcall(d.destroy, d, err) end
  end
  return self
end

function Socket:setNoDelay(on) core.net_nodelay(self._box, on ~= false) return self end
function Socket:ref() core.net_ref(self._box, true) return self end
function Socket:unref() core.net_ref(self._box, false) return self end

-- socket:read() -> chunk | nil (end) | nil, "closed"
function Socket:read()
  while true do
    local chunk = core.net_read(self._box)
    if chunk then return chunk end
    if self._remote_ended then return nil end
    if self.destroyed or self._closed then return nil, "closed" end
    if self._reader then return nil, "busy" end
    self._reader = sched.current("socket:read")
    sched.wait()
  end
end

-- socket:readAll([{limit=}]) -> everything until the peer's end |
-- nil, "closed" | nil, err (ERR_BUFFER_TOO_LARGE past |limit|, as streams)
function Socket:readAll(options)
  local limit = errors.read_limit(options)
  local parts, size = {}, 0
  while true do
    local c, err = self:read()
    if not c then
      if err then return nil, err end
      return table.concat(parts)
    end
    size = size + #c
    if size > limit then return nil, errors.new("ERR_BUFFER_TOO_LARGE", limit) end
    parts[#parts + 1] = c
  end
end

local function flow(self)
  while self._flowing do
    local chunk = core.net_read(self._box)
    if not chunk then return end
    self:emit("data", chunk)
  end
end

function Socket:_onlisten(name)
  if name == "data" and not self._flowing then
    self._flowing = true
    sched.defer(flow, self)
  end
end

function Socket:pause() self._flowing = false return self end
function Socket:resume()
  self._flowing = true
  sched.defer(flow, self)
  return self
end

-- src:pipe(dest) -> dest: data written on with backpressure, then end
function Socket:pipe(dest)
  self:on("data", function(chunk)
    if not dest:write(chunk) then
      self:pause()
      dest:once("drain", function() self:resume() end)
    end
  end)
  self:on("end", function() if dest.finish then dest:finish() end end)
  return dest
end

function Socket:_sticky(name)
  if name == "connect" and not self.connecting then return self end
  if name == "close" and self._closed then return true end
  return nil
end

function Socket:_waitclosed(name)
  return self._closed and name ~= "close"
end

local function wake_reader(self)
  local r = self._reader
  if r then
    self._reader = false
    sched.wake(r)
  end
end

local Server = Emitter.extend({})
Server.__index = Server
Server.__name = "h2lua.net.Server"
M.Server = Server

local handlers, EV = sched.handlers, sched.EV

handlers[EV.NET_ACCEPT] = function(server, box)
  local s = new_socket(box)
  s.connecting = false
  fill_addresses(s)
  sched.spawn(function() server:emit("connection", s) end)
  return s
end

handlers[EV.NET_CONNECT] = function(self)
  self.connecting = false
  fill_addresses(self)
  if self.encrypted then require("http2.tls").socket_details(self, core.socket_tls(self._box)) end
  sched.spawn(function()
    self:emit("connect")
    if self.encrypted then self:emit("secureConnect") end
  end)
end

handlers[EV.NET_DATA] = function(self)
  if self._reader then wake_reader(self)
  elseif self._flowing then sched.defer(flow, self) end
end

handlers[EV.NET_END] = function(self)
  self._remote_ended = true
  wake_reader(self)
  sched.spawn(function()
    if self._flowing then flow(self) end
    self:emit("end")
    -- as Node without allowHalfOpen: our side ends after 'end' (what its
    -- listeners wrote goes first), and the socket closes
    if not self._ended and not self.destroyed then self:finish() end
  end)
end

handlers[EV.NET_DRAIN] = function(self)
  sched.spawn(function()
    self:emit("_drained")
    if self._need_drain then
      self._need_drain = false
      self._ignored = 0
      self:emit("drain")
    end
  end)
end

handlers[EV.NET_ERROR] = function(self, code)
  local tls_code, msg = code:match("^(%S+) (.*)$")
  if tls_code then
    -- a TLS handshake that failed: Node's code for a certificate, else
    -- ERR_SSL_HANDSHAKE or the socket's errno
    local err
    if tls_code:match("^E[A-Z]+$") then
      err = errors.system(tls_code, "connect", "connect " .. tls_code .. " " .. tostring(self._host) ..
        ":" .. tostring(self._port) .. " (" .. msg .. ")")
    else
      err = errors.new("ERR_TLS_CONTEXT", msg)
      err.code = tls_code
    end
    self._destroy_err = err
    return
  end
  local err = errors.system(code, self.connecting and "connect" or "read",
    (self.connecting and "connect " or "read ") .. code ..
    (self._host and (" " .. self._host .. (self._port and (":" .. tostring(self._port)) or "")) or ""))
  self._destroy_err = err
end

handlers[EV.NET_CLOSE] = function(self, had_error)
  live_sockets[self] = nil
  self.destroyed = true
  self._closed = true
  self.connecting = false
  wake_reader(self)
  local err = self._destroy_err
  sched.spawn(function()
    if self._flowing then flow(self) end
    if err and self:listenerCount("error") > 0 then self:emit("error", err) end
    self:emit("close", err ~= nil)
    self:_closewaiters()
  end)
end

-- net.createServer([options][, onConnection]) -> server
function M.createServer(options, onConnection)
  if type(options) == "function" then options, onConnection = nil, options end
  errors.check_function(onConnection, "connectionListener", true)
  local s = setmetatable({ listening = false, _events = false, _waiters = false }, Server)
  if onConnection then s:on("connection", onConnection) end
  return s
end

-- server:listen(port[, host][, cb]) -> server
-- server:listen(path[, cb]): a UNIX domain socket (address() is the path)
function Server:listen(port, host, cb)
  if type(host) == "function" then host, cb = nil, host end
  if cb then self:once("listening", cb) end
  local path = type(port) == "string" and not tonumber(port) and port or nil
  if path then host, port = full_path(path), 0 end
  local box, p, addr = core.net_listen(self, host, tonumber(port) or 0)
  if not box then
    local err = errors.system(p, "listen", "listen " .. p .. ": " .. tostring(addr))
    sched.defer(function() self:emit("error", err) end)
    return self
  end
  self._box, self.listening = box, true
  live_servers[self] = true
  self._address = { address = addr, port = p, family = addr:find(":") and "IPv6" or "IPv4" }
  if path then self._address, self._path = path, host end
  sched.defer(function() self:emit("listening") end)
  return self
end

function Server:address() return self.listening and self._address or nil end

-- server:close([cb]) -> server: stops accepting
function Server:close(cb)
  live_servers[self] = nil
  if self._box then core.net_server_close(self._box) end
  if self._path then os.remove(self._path) self._path = nil end
  self._box, self.listening = nil, false
  sched.defer(function()
    if cb then cb() end
    self:emit("close")
  end)
  return self
end

function Server:_sticky(name)
  if name == "listening" and self.listening then return true end
  return nil
end

-- SIGINT/SIGTERM: net servers stop accepting; open sockets are ended
-- when the drain time is over.
require("h2lua")._onshutdown(function(graceful)
  for server in pairs(live_servers) do server:close() end
  if not graceful then
    for sock in pairs(live_sockets) do sock:destroy() end
  end
end)

return M
