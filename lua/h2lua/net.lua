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

-- net.connect(port[, host][, onConnect]) or net.connect{port=, host=}
function M.connect(port, host, cb)
  if type(port) == "table" then
    cb = type(host) == "function" and host or cb
    port, host = port.port, port.host
  end
  if type(host) == "function" then host, cb = nil, host end
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

-- socket:write(data[, cb]) -> bool (false above the high-water mark)
function Socket:write(data, cb)
  if type(data) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "chunk", "of type string", errors.describe(data))
  end
  if self._ended or self.destroyed then
    local err = errors.new("ERR_STREAM_WRITE_AFTER_END")
    if cb then sched.defer(cb, err) end
    error(err, 2)
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
  sched.spawn(function() self:emit("connect") end)
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
  end)
end

handlers[EV.NET_DRAIN] = function(self)
  sched.spawn(function()
    self:emit("_drained")
    if self._need_drain then
      self._need_drain = false
      self:emit("drain")
    end
  end)
end

handlers[EV.NET_ERROR] = function(self, code)
  local err = errors.system(code, self.connecting and "connect" or "read",
    (self.connecting and "connect " or "read ") .. code ..
    (self._host and (" " .. self._host .. ":" .. tostring(self._port)) or ""))
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
function Server:listen(port, host, cb)
  if type(host) == "function" then host, cb = nil, host end
  if cb then self:once("listening", cb) end
  local box, p, addr = core.net_listen(self, host, tonumber(port) or 0)
  if not box then
    local err = errors.system(p, "listen", "listen " .. p .. ": " .. tostring(addr))
    sched.defer(function() self:emit("error", err) end)
    return self
  end
  self._box, self.listening = box, true
  live_servers[self] = true
  self._address = { address = addr, port = p, family = addr:find(":") and "IPv6" or "IPv4" }
  sched.defer(function() self:emit("listening") end)
  return self
end

function Server:address() return self.listening and self._address or nil end

-- server:close([cb]) -> server: stops accepting
function Server:close(cb)
  live_servers[self] = nil
  if self._box then core.net_server_close(self._box) end
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
