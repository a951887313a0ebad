-- The Compatibility API: Http2ServerRequest and Http2ServerResponse, the
-- HTTP/1-style (req, res) pair built on a server stream, and the server's
-- 'request' / 'checkContinue' / 'connect' dispatch of Node.js's
-- onServerStream.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local Emitter = require "h2lua.emitter"
local headers_mod = require "http2.headers"
local C = require "http2.constants"
local klass = require "h2lua.class"

local M = {}

-- Classes whose properties may be computed or validated on assignment:
-- getters and setters by name.
local function class(methods, getters, setters)
  return {
    __index = klass.index(methods, getters),
    __newindex = klass.newindex(getters, setters, function(k)
      errors.raise("ERR_INVALID_ARG_VALUE", k, "a read-only property")
    end),
  }
end

-- Http2ServerRequest ---------------------------------------------------

-- The socket of a request or response: Node's proxy over the stream.
-- Event and lifetime methods go to the stream (destroying it ends this
-- exchange, not the connection), setTimeout to the session, raw I/O is
-- refused, and everything else is the connection's socket.
local SocketProxy = { __name = "h2lua.Http2ProxySocket" }
local to_stream = { on = true, once = true, emit = true, ["end"] = true,
  finish = true, destroy = true, off = true, removeListener = true }
local refused = { write = true, read = true, pause = true, resume = true,
  readable = true, writable = true, destroyed = true }

local function proxied(stream)
  local p = stream._socket_proxy
  if not p then
    p = setmetatable({ [SocketProxy] = stream }, SocketProxy)
    stream._socket_proxy = p
  end
  return p
end

function SocketProxy.__index(p, k)
  local st = rawget(p, SocketProxy)
  if to_stream[k] then
    local f = st[k == "end" and "finish" or k]
    return function(_, ...) return f(st, ...) end
  elseif k == "destroyed" then
    return st.destroyed
  elseif k == "readable" then
    return not st.destroyed and not st.readableEnded
  elseif k == "writable" then
    return not st.destroyed and not st.writableEnded
  elseif k == "setTimeout" then
    local session = st.session
    if session == nil then errors.raise("ERR_HTTP2_SOCKET_UNBOUND") end
    local f = session.setTimeout
    return function(_, ...) f(session, ...) return p end
  elseif k == "write" or k == "read" or k == "pause" or k == "resume" then
    errors.raise("ERR_HTTP2_NO_SOCKET_MANIPULATION")
  end
  -- a stream its session:destroy() ended has no session any more (Node)
  local sock = st.session and st.session.socket
  if sock == nil then errors.raise("ERR_HTTP2_SOCKET_UNBOUND") end
  local v = sock[k]
  if type(v) == "function" then
    return function(_, ...) return v(sock, ...) end
  end
  return v
end

-- Assignments: the stream's methods may be replaced on the proxy (a
-- stream's methods are its class's), the session's setTimeout on the
-- session, other fields land on the socket; the stream's state flags and
-- raw I/O are refused (the engine keeps the former).
function SocketProxy.__newindex(p, k, v)
  local st = rawget(p, SocketProxy)
  if refused[k] then errors.raise("ERR_HTTP2_NO_SOCKET_MANIPULATION") end
  if to_stream[k] then
    rawset(p, k, v)
  elseif k == "setTimeout" then
    if st.session == nil then errors.raise("ERR_HTTP2_SOCKET_UNBOUND") end
    rawset(st.session, k, v)
  else
    local sock = st.session and st.session.socket
    if sock == nil then errors.raise("ERR_HTTP2_SOCKET_UNBOUND") end
    sock[k] = v
  end
end
SocketProxy.__tostring = function() return "h2lua.Http2ProxySocket" end
M.SocketProxy = SocketProxy

local req_methods = Emitter.extend({})
local req_getters = {
  aborted = function(self) return self.stream.aborted end,
  complete = function(self)
    local st = self.stream
    return st.aborted or st.readableEnded or st.destroyed or false
  end,
  method = function(self) return self.headers[":method"] end,
  url = function(self) return self.headers[":path"] end,
  socket = function(self) return proxied(self.stream) end,
  connection = function(self) return proxied(self.stream) end,
  trailers = function(self) return self.stream.trailers or {} end,
  rawTrailers = function(self) return self.stream._raw_trailers or {} end,
  readableEnded = function(self) return self.stream.readableEnded end,
}
local req_setters = {
  -- frameworks rewrite the method (method-override): a non-blank string
  method = function(self, v)
    if type(v) ~= "string" then
      local e = errors.new("ERR_INVALID_ARG_TYPE", "method", "of type string", errors.describe(v))
      error(e, 3)
    end
    if not v:find("%S") then
      local e = errors.new("ERR_INVALID_ARG_VALUE", "method", errors.describe(v))
      error(e, 3)
    end
    self.headers[":method"] = v
  end,
  url = function(self, v) self.headers[":path"] = v end,
}
local Request = class(req_methods, req_getters, req_setters)
Request.__name = "h2lua.Http2ServerRequest"
M.Http2ServerRequest = Request

-- A server's own request or response class (the Http2ServerRequest and
-- Http2ServerResponse options): a table of methods and fields looked up
-- before the base class's, which goes on serving everything else.
local function derived(base, own)
  local mt = {}
  for k, v in pairs(base) do mt[k] = v end
  local base_index = base.__index
  mt.__index = function(self, k)
    local v = own[k]
    if v ~= nil then return v end
    if type(base_index) == "function" then return base_index(self, k) end
    return base_index[k]
  end
  return mt
end

local function class_of(server, option, base)
  local own = server and server._options and server._options[option]
  if type(own) ~= "table" then return base end
  local cache = rawget(server, "_classes")
  if not cache then
    cache = {}
    rawset(server, "_classes", cache)
  end
  local mt = cache[option]
  if not mt then
    mt = derived(base, own)
    cache[option] = mt
  end
  return mt
end

local function new_request(stream, headers, raw, class)
  local self = setmetatable({
    stream = stream, headers = headers, rawHeaders = raw,
    authority = headers[":authority"] or headers.host,
    scheme = headers[":scheme"], httpVersion = stream._http_version or "2.0",
    httpVersionMajor = stream._h1 and 1 or 2,
    httpVersionMinor = stream._http_version == "1.1" and 1 or 0, _events = false,
  }, class or Request)
  return self
end

-- req:read() / req:readAll(): the body, as on the stream
function req_methods:read() return self.stream:read() end
function req_methods:readAll(options) return self.stream:readAll(options) end
function req_methods:resume()
  self._paused = false
  self.stream:resume()
  return self
end
function req_methods:pause()
  self._paused = true
  self.stream:pause()
  return self
end
-- req:setTimeout(msecs[, cb]) -> req; nothing once the stream is gone
function req_methods:setTimeout(ms, cb)
  if not self.stream.destroyed then self.stream:setTimeout(ms, cb) end
  return self
end

-- The stream's |name| event re-emitted by |obj| (once wired).
local function relay(obj, name)
  local flag = "_relay_" .. name
  if rawget(obj, flag) then return end
  rawset(obj, flag, true)
  obj.stream:on(name, function() obj:emit(name) end)
end
-- req:destroy([err]) -> req
function req_methods:destroy(err)
  self.stream:destroy(err)
  return self
end

-- req:pipe(dest) -> dest, as stream:pipe
function req_methods:pipe(dest)
  return require("http2.stream").pipe(self, dest)
end

-- 'data' and 'end' listeners go to the stream: adding one there starts
-- the flow, exactly as on the stream itself.
function req_methods:_onlisten(name)
  if name == "timeout" then return relay(self, name) end
  if name == "data" or name == "end" then
    if not self._piped then
      self._piped = true
      local st = self.stream
      st:on("data", function(chunk) self:emit("data", chunk) end)
      st:on("end", function() self:emit("end") end)
      -- a 'data' listener starts the stream's flow, unless req was paused
      if self._paused then st:pause() end
    end
  end
end

-- Http2ServerResponse --------------------------------------------------

local res_methods = Emitter.extend({})
local res_getters = {
  statusCode = function(self) return self._status end,
  -- HTTP/2 has no reason phrase; HTTP/1.1 sends the one set
  statusMessage = function(self)
    return self.stream._h1 and (rawget(self, "_reason") or "") or ""
  end,
  sendDate = function(self) return self._send_date end,
  headersSent = function(self) return self.stream.headersSent end,
  _header = function(self) return self.stream.headersSent end,
  finished = function(self) return self._ended end,
  writableEnded = function(self) return self._ended end,
  writableFinished = function(self) return self._finished end,
  writableHighWaterMark = function(self) return self.stream.writableHighWaterMark end,
  -- the bytes written and not yet taken by the connection
  writableLength = function(self)
    if self._finished then return 0 end
    return self.stream.bufferSize or 0
  end,
  writableCorked = function(self) return rawget(self, "_corked") or 0 end,
  -- as HTTP/1's response, which lets go of its socket once done
  socket = function(self)
    if self._closed then return nil end
    return proxied(self.stream)
  end,
  connection = function(self)
    if self._closed then return nil end
    return proxied(self.stream)
  end,
}
local res_setters = {
  statusCode = function(self, code)
    local n = math.tointeger(tonumber(code) or 0) or 0
    if n >= 100 and n < 200 then
      local e = errors.new("ERR_HTTP2_INFO_STATUS_NOT_ALLOWED")
      e.message = "Informational status codes cannot be used"
      e.name = "RangeError"
      error(e, 3)
    end
    if n < 100 or n > 599 then
      local e = errors.new("ERR_HTTP2_STATUS_INVALID", code)
      error(e, 3)
    end
    rawset(self, "_status", n)
  end,
  statusMessage = function(self, v)
    if v ~= nil and (type(v) ~= "string" or v:find("[\r\n]")) then
      errors.raise("ERR_INVALID_CHAR", "Invalid character in statusMessage")
    end
    rawset(self, "_reason", v)
  end,
  sendDate = function(self, v) rawset(self, "_send_date", v and true or false) end,
}
local Response = class(res_methods, res_getters, res_setters)
Response.__name = "h2lua.Http2ServerResponse"
M.Http2ServerResponse = Response

local function new_response(stream, req, class)
  return setmetatable({
    stream = stream, req = req, _status = 200, _send_date = true,
    _headers = {}, _ended = false, _finished = false, _closed = false,
    _destroyed = false, _trailers = false, _events = false,
  }, class or Response)
end

-- The name as stored: a string, trimmed and lower-cased.
local function key_of(name)
  if type(name) ~= "string" then
    local e = errors.new("ERR_INVALID_ARG_TYPE", "name", "of type string", errors.describe(name))
    error(e, 3)
  end
  return name:match("^%s*(.-)%s*$"):lower()
end

-- key_of, then Node's checks of a field to set: a token, no
-- pseudo-header, a value.
local function check_field(name, value)
  local key = key_of(name)
  if key:byte(1) == 58 then -- ':'
    local e = errors.new("ERR_HTTP2_PSEUDOHEADER_NOT_ALLOWED")
    e.message, e.name = "Cannot set HTTP/2 pseudo-headers", "TypeError"
    error(e, 3)
  end
  if key == "" or not key:find("^[%w!#%$%%&'%*%+%-%.%^_`|~]+$") then
    error(errors.new("ERR_INVALID_HTTP_TOKEN", "Header name", key), 3)
  end
  if value == nil then
    error(errors.new("ERR_HTTP2_INVALID_HEADER_VALUE", "nil", key), 3)
  end
  if type(value) == "table" then
    for _, v in ipairs(value) do headers_mod.check_value(key, v) end
  else
    headers_mod.check_value(key, value)
  end
  return key
end

local function check_sent(self)
  if self.stream.headersSent then errors.raise("ERR_HTTP2_HEADERS_SENT") end
end

-- HTTP/1 connection-specific fields have no meaning in HTTP/2 (RFC 9113
-- 8.2.2): Node drops them with a warning rather than failing the response.
local connection_specific = { connection = true, upgrade = true,
  ["http2-settings"] = true, ["keep-alive"] = true, ["proxy-connection"] = true,
  ["transfer-encoding"] = true }
local warned_connection = false
local function allowed(self, key, value)
  if not (connection_specific[key] or (key == "te" and value ~= "trailers")) then
    return true
  end
  if self.stream._h1 then return true end
  if not warned_connection then
    warned_connection = true
    io.stderr:write("h2lua: warning: the connection-specific header \"", key,
      "\" is not valid in HTTP/2 and is dropped\n")
  end
  return false
end

local function store(self, key, value)
  if allowed(self, key, value) then self._headers[key] = value end
end

local function append(self, key, value)
  if not allowed(self, key, value) then return end
  local old = self._headers[key]
  if old == nil then
    self._headers[key] = value
    return
  end
  local list = {}
  for _, v in ipairs(type(old) == "table" and old or { old }) do list[#list + 1] = v end
  for _, v in ipairs(type(value) == "table" and value or { value }) do list[#list + 1] = v end
  self._headers[key] = list
end

-- res:setHeader(name, value) -> res
function res_methods:setHeader(name, value)
  local key = check_field(name, value)
  check_sent(self)
  store(self, key, value)
  return self
end

-- res:appendHeader(name, value) -> res: adds to the values already set
function res_methods:appendHeader(name, value)
  local key = check_field(name, value)
  check_sent(self)
  append(self, key, value)
  return self
end

-- res:getHeader(name) -> value | nil
function res_methods:getHeader(name)
  return self._headers[key_of(name)]
end

-- res:getHeaders() -> a copy of the headers set so far
function res_methods:getHeaders()
  local out = {}
  for k, v in pairs(self._headers) do out[k] = v end
  return out
end

-- res:getHeaderNames() -> lower-case names
function res_methods:getHeaderNames()
  local out = {}
  for k in pairs(self._headers) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- res:hasHeader(name) -> bool
function res_methods:hasHeader(name)
  return self._headers[key_of(name)] ~= nil
end

-- res:removeHeader(name); removing "date" turns sendDate off
function res_methods:removeHeader(name)
  local key = key_of(name)
  check_sent(self)
  if key == "date" then
    self._send_date = false
    return
  end
  self._headers[key] = nil
end

-- res:setTrailer(name, value): sent after the body
function res_methods:setTrailer(name, value)
  local key = check_field(name, value)
  local t = self._trailers or {}
  t[key] = value
  self._trailers = t
end

-- res:addTrailers(headers): setTrailer for each field
function res_methods:addTrailers(headers)
  if type(headers) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "headers", "of type table", errors.describe(headers))
  end
  for k, v in pairs(headers) do self:setTrailer(k, v) end
end

local function begin_send(self)
  local st = self.stream
  if st.headersSent or st.closed or st.destroyed then return end
  local h = {}
  for k, v in pairs(self._headers) do h[k] = v end
  h[":status"] = self._status
  st:respond(h, { sendDate = self._send_date, _reason = st._h1 and rawget(self, "_reason") or nil })
end

-- res:writeHead(statusCode[, statusMessage][, headers]) -> res. A list
-- (flat, or of pairs) repeats names; it replaces what setHeader set for
-- the names it has.
function res_methods:writeHead(code, msg, headers)
  local st = self.stream
  if self._closed or st.closed or st.destroyed then return self end
  check_sent(self)
  if headers == nil and type(msg) == "table" then headers = msg end
  if type(msg) == "string" then self.statusMessage = msg end
  if type(headers) == "table" then
    local pairs_list = #headers > 0 and type(headers[1]) == "table"
    if #headers > 0 then
      if not pairs_list and #headers % 2 ~= 0 then
        errors.raise("ERR_INVALID_ARG_VALUE", "headers", "a list of odd length")
      end
      local list = {}
      if pairs_list then
        for i, pair in ipairs(headers) do list[i] = { check_field(pair[1], pair[2]), pair[2] } end
      else
        for i = 1, #headers, 2 do
          list[#list + 1] = { check_field(headers[i], headers[i + 1]), headers[i + 1] }
        end
      end
      for _, f in ipairs(list) do self._headers[f[1]] = nil end
      for _, f in ipairs(list) do append(self, f[1], f[2]) end
    else
      for k, v in pairs(headers) do
        if type(k) == "string" then store(self, check_field(k, v), v) end
      end
    end
  end
  self.statusCode = code
  begin_send(self)
  return self
end

-- res:flushHeaders(): sends the head now (once)
function res_methods:flushHeaders()
  if not self._closed and not self.stream.headersSent then self:writeHead(self._status) end
end

-- Strings are bytes in Lua: the encodings Node names for text pass them
-- as they are; hex and base64 are decoded.
local function decode(chunk, encoding)
  if encoding == nil or type(chunk) ~= "string" then return chunk end
  local enc = tostring(encoding):lower()
  if enc == "hex" then
    return (chunk:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
  elseif enc == "base64" then
    local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    local bits = chunk:gsub("[^%w%+/]", ""):gsub(".", function(c)
      local v = alphabet:find(c, 1, true) - 1
      local b = {}
      for i = 6, 1, -1 do b[#b + 1] = (v >> (i - 1)) & 1 end
      return table.concat(b)
    end)
    return (bits:gsub("%d%d%d?%d?%d?%d?%d?%d?", function(byte)
      if #byte < 8 then return "" end
      return string.char(tonumber(byte, 2))
    end))
  end
  return chunk
end

-- res:write(chunk[, encoding][, cb]) -> bool. After finish() or the
-- stream's end, the error goes to cb and write returns false.
-- res:cork() / res:uncork(): Node's counter. Writes made in one run of a
-- handler already leave together, so corking holds nothing back.
function res_methods:cork() rawset(self, "_corked", (rawget(self, "_corked") or 0) + 1) end
function res_methods:uncork()
  local n = rawget(self, "_corked") or 0
  if n > 0 then rawset(self, "_corked", n - 1) end
end

function res_methods:write(chunk, encoding, cb)
  if type(encoding) == "function" then encoding, cb = nil, encoding end
  local err
  local st = self.stream
  if self._ended then
    err = errors.new("ERR_STREAM_WRITE_AFTER_END")
  elseif self._closed or st.closed or st.destroyed then
    -- res:destroy() before the close: quietly nothing, as in Node
    if self._destroyed and not self._closed then return false end
    err = errors.new("ERR_HTTP2_INVALID_STREAM")
  elseif self._destroyed then
    return false
  end
  if err then
    if type(cb) == "function" then sched.defer(cb, err) end
    self._destroyed = true
    return false
  end
  begin_send(self)
  return st:write(decode(chunk, encoding), cb)
end

-- The response is over (its stream closed, or a HEAD response ended
-- after its stream): 'finish' then 'close', once each.
local function response_finish(self)
  if self._closed then return false end
  self._closed = true
  self._finished = true
  self:emit("finish")
  return true
end

-- res:finish([data][, encoding][, cb]) -> res; also res["end"]. Again
-- after the first: cb runs, nothing else.
function res_methods:finish(data, encoding, cb)
  if type(data) == "function" then data, encoding, cb = nil, nil, data
  elseif type(encoding) == "function" then encoding, cb = nil, encoding end
  local st = self.stream
  if self._ended or self._closed then
    if type(cb) == "function" then sched.defer(cb) end
    return self
  end
  self._ended = true
  if type(cb) == "function" then self:once("finish", cb) end
  begin_send(self)
  if st.closed or st.destroyed then
    if response_finish(self) then self:emit("close") end
    return self
  end
  if self._trailers then st:_trailersLater() end
  st:finish(decode(data, encoding))
  return self
end
res_methods["end"] = res_methods.finish

-- res:destroy([err]) -> res: resets the stream (INTERNAL_ERROR with err)
function res_methods:destroy(err)
  if self._destroyed then return self end
  self._destroyed = true
  self.stream:destroy(err)
  return self
end

-- res:writeContinue() -> whether 100 Continue could still be sent
function res_methods:writeContinue()
  local st = self.stream
  if st.headersSent or self._closed or st.closed or st.destroyed then return false end
  st:additionalHeaders({ [":status"] = 100 })
  return true
end

-- One Link value: <uri> then ;-separated parameters.
local function valid_link(v)
  if type(v) ~= "string" then return false end
  local rest = v:match("^<[^>]*>(.*)$")
  if not rest then return false end
  for param in rest:gmatch(";([^;]*)") do
    if not param:find("^%s*[^;\"%s=]+%s*$") and
       not param:find("^%s*[^;\"%s=]+=[^;\"%s]*%s*$") and
       not param:find('^%s*[^;"%s=]+="[^;"]*"%s*$') then
      return false
    end
  end
  return rest:gsub(";[^;]*", ""):find("^%s*$") ~= nil
end

-- res:writeEarlyHints(hints) -> whether 103 Early Hints was sent;
-- hints.link is a Link value or a list of them (an empty list sends
-- nothing).
function res_methods:writeEarlyHints(hints)
  if type(hints) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "hints", "of type table", errors.describe(hints))
  end
  local link = hints.link
  local value
  if type(link) == "table" then
    for _, v in ipairs(link) do
      if not valid_link(v) then errors.raise("ERR_INVALID_ARG_VALUE", "hints.link", errors.describe(v)) end
    end
    value = table.concat(link, ", ")
  elseif valid_link(link) then
    value = link
  else
    errors.raise("ERR_INVALID_ARG_VALUE", "hints.link", errors.describe(link))
  end
  if value == "" then return false end
  local st = self.stream
  if st.headersSent or self._closed or st.closed or st.destroyed then return false end
  local h = { [":status"] = 103 }
  for k, v in pairs(hints) do
    if type(k) == "string" and k ~= "link" then h[k:lower()] = v end
  end
  h.link = value
  st:additionalHeaders(h)
  return true
end

-- res:setTimeout(msecs[, cb]) -> res
function res_methods:setTimeout(ms, cb)
  if not self._closed and not self.stream.destroyed then self.stream:setTimeout(ms, cb) end
  return self
end

-- The stream's 'drain' and 'timeout' reach the response once someone
-- listens.
function res_methods:_onlisten(name)
  if name == "drain" or name == "timeout" then relay(self, name) end
end

-- The stream closed: 'finish' (Node emits it whatever the close code),
-- the request's 'close', the response's. A HEAD response whose headers
-- ended the stream waits for finish(), as in Node.
local function on_close(req, res, stream)
  local finished = not (stream._head and not res._ended) and response_finish(res)
  if req then req:emit("close") end
  if finished then res:emit("close") end
end

-- res:createPushResponse(headers[, cb]) -> nil: a pushed stream wrapped
-- as a response; cb(err, res). Without cb, inside a coroutine, returns
-- err, res (API.md).
function res_methods:createPushResponse(headers, cb)
  local co
  if cb == nil then
    co = sched.current("res:createPushResponse")
  else
    errors.check_function(cb, "callback")
  end
  if self._closed or self.stream.destroyed then
    local err = errors.new("ERR_HTTP2_INVALID_STREAM")
    if co then return err end
    sched.defer(cb, err)
    return
  end
  local function done(err, stream)
    if err then return err end
    local res = new_response(stream, nil)
    stream:on("wantTrailers", function() stream:sendTrailers(res._trailers or {}) end)
    stream:on("close", function() on_close(nil, res, stream) end)
    return nil, res
  end
  if co then
    local err, stream = self.stream:pushStream(headers)
    return done(err, stream)
  end
  self.stream:pushStream(headers, function(err, stream) cb(done(err, stream)) end)
end

-- Wiring: what a server does with a stream once 'request' is listened to.
local function wire(req, res, stream)
  stream:on("wantTrailers", function()
    stream:sendTrailers(res._trailers or {})
  end)
  stream:on("trailers", function() end)
  stream:on("aborted", function()
    if req:listenerCount("aborted") > 0 then req:emit("aborted") end
  end)
  stream:on("close", function() on_close(req, res, stream) end)
end

-- M.dispatch(server, stream, headers, raw) -> whether it was handled:
-- Node.js's onServerStream.
function M.dispatch(server, stream, headers, raw)
  -- HTTP/1.1 requests take the Http1* options, as Node's fallback does
  local h1 = stream._h1
  local req = new_request(stream, headers, raw,
    class_of(server, h1 and "Http1IncomingMessage" or "Http2ServerRequest", Request))
  local res = new_response(stream, req,
    class_of(server, h1 and "Http1ServerResponse" or "Http2ServerResponse", Response))
  wire(req, res, stream)
  if headers[":method"] == "CONNECT" then
    if not server:emit("connect", req, res) then
      res.statusCode = C.HTTP_STATUS_METHOD_NOT_ALLOWED
      res:finish()
    end
    return true
  end
  local expect = headers.expect
  if expect ~= nil then
    if expect:lower() == "100-continue" then
      if server:listenerCount("checkContinue") > 0 then
        server:emit("checkContinue", req, res)
        return true
      end
      res:writeContinue()
    elseif server:listenerCount("checkExpectation") > 0 then
      server:emit("checkExpectation", req, res)
      return true
    else
      res:writeHead(C.HTTP_STATUS_EXPECTATION_FAILED)
      res:finish()
      return true
    end
  end
  server:emit("request", req, res)
  return true
end

return M
