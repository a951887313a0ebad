-- Http2Session (server side): the Node.js object over an engine session
-- handle, and the engine events that concern sessions and their streams.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local Emitter = require "h2lua.emitter"
local C = require "http2.constants"
local Stream = require "http2.stream"
local core = sched.core

local Session = {}
local methods = Emitter.extend({})
Session.methods = methods
Session.__index = methods
Session.__name = "h2lua.Session"
Session.__tostring = function(self)
  return "h2lua.Session" .. (self.destroyed and " (closed)" or "")
end

-- Every live session, for shutdown.
local live = {}
Session.live = live

function Session._new(server, box, raddr, rport, laddr, lport, family)
  local fam = family == 6 and "IPv6" or "IPv4"
  local self = setmetatable({
    _box = box, _server = server, type = C.NGHTTP2_SESSION_SERVER,
    encrypted = false, alpnProtocol = "h2c", closed = false,
    destroyed = false, connecting = false,
    socket = { remoteAddress = raddr, remotePort = rport,
               remoteFamily = fam, localAddress = laddr, localPort = lport,
               encrypted = false },
  }, Session)
  live[self] = true
  return self
end

local function wait_close(self, cb, what)
  if cb ~= nil then
    if type(cb) ~= "function" then
      errors.raise("ERR_INVALID_ARG_TYPE", "callback", "of type function", errors.describe(cb))
    end
    self:once("close", cb)
  elseif sched.waitable() and not self.destroyed then
    self:wait("close")
  end
end

-- session:close([cb]) -> nil: GOAWAY(NO_ERROR); open streams finish, then
-- the session closes. Without cb, inside a coroutine, waits until closed.
function methods:close(cb)
  if not self.closed and not self.destroyed then
    self.closed = true
    core.session_close(self._box)
  end
  wait_close(self, cb, "session:close")
end

-- session:destroy([err][, code]) -> nil: ends the session now.
function methods:destroy(err, code)
  if type(err) == "number" then err, code = nil, err end
  if self.destroyed then return end
  if code == nil then code = err and C.NGHTTP2_INTERNAL_ERROR or C.NGHTTP2_NO_ERROR end
  self._destroy_err = err
  self.closed = true
  self.destroyed = true
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
  core.session_goaway(self._box, code or C.NGHTTP2_NO_ERROR, last, opaque)
end

-- session:ref() / unref(): whether this session keeps the loop alive
function methods:ref() if not self.destroyed then core.session_ref(self._box, true) end end
function methods:unref() if not self.destroyed then core.session_ref(self._box, false) end end

-- Engine events ------------------------------------------------------------

local handlers = sched.handlers
local EV_SESSION, EV_SESSION_CLOSE, EV_SESSION_ERROR, EV_GOAWAY, EV_STREAM,
  EV_TRAILERS, EV_DATA, EV_END, EV_DRAIN, EV_WANT_TRAILERS, EV_STREAM_CLOSE =
  4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14

local function session_opened(server, session)
  server:emit("connection", session.socket)
  server:emit("session", session)
end

handlers[EV_SESSION] = function(server, box, raddr, rport, laddr, lport, family)
  local session = Session._new(server, box, raddr, rport, laddr, lport, family)
  if server then server:_addsession(session) end
  sched.spawn(session_opened, nil, server, session)
  return session
end

local function session_closed(self)
  local err = self._destroy_err
  if err ~= nil then self:emit("error", err) end
  self:emit("close")
  self:_closewaiters()
  if self._server then self._server:_removesession(self) end
end

handlers[EV_SESSION_CLOSE] = function(self)
  self.closed = true
  self.destroyed = true
  live[self] = nil
  sched.spawn(session_closed, nil, self)
end

local function session_error(self, code, msg)
  local err = errors.new("ERR_HTTP2_ERROR", msg)
  err.errno = code
  if self:listenerCount("error") > 0 then
    self._destroy_err = err
  end
  local server = self._server
  if server and server:listenerCount("sessionError") > 0 then
    server:emit("sessionError", err, self)
  end
end

handlers[EV_SESSION_ERROR] = function(self, code, msg)
  sched.spawn(session_error, nil, self, code, msg)
end

handlers[EV_GOAWAY] = function(self, code, last, opaque)
  sched.spawn(function() self:emit("goaway", code, last, opaque) end, nil)
end

local FLAGS_END_HEADERS, FLAGS_END_STREAM = C.NGHTTP2_FLAG_END_HEADERS, C.NGHTTP2_FLAG_END_STREAM

local function stream_opened(session, stream, headers, raw)
  local flags = stream.endAfterHeaders and (FLAGS_END_HEADERS | FLAGS_END_STREAM) or FLAGS_END_HEADERS
  local server = session._server
  local handled = session:emit("stream", stream, headers, flags, raw)
  if server then
    handled = server:_onstream(stream, headers, flags, raw) or handled
  end
end

handlers[EV_STREAM] = function(session, box, headers, raw, end_stream, id)
  local stream = Stream._new(session, box, id, end_stream, headers[":method"])
  sched.spawn(stream_opened, stream, session, stream, headers, raw)
  return stream
end

handlers[EV_TRAILERS] = Stream._ontrailers
handlers[EV_DATA] = Stream._ondata
handlers[EV_END] = Stream._onend
handlers[EV_DRAIN] = Stream._ondrain
handlers[EV_WANT_TRAILERS] = Stream._onwanttrailers
handlers[EV_STREAM_CLOSE] = Stream._onclose

return Session
