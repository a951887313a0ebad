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

local req_methods = Emitter.extend({})
local req_getters = {
  aborted = function(self) return self.stream.aborted end,
  complete = function(self)
    local st = self.stream
    return st.readableEnded or st.destroyed or false
  end,
  socket = function(self) return self.stream.session.socket end,
  connection = function(self) return self.stream.session.socket end,
  trailers = function(self) return self.stream.trailers or {} end,
  rawTrailers = function(self) return self.stream._raw_trailers or {} end,
  readableEnded = function(self) return self.stream.readableEnded end,
}
local Request = class(req_methods, req_getters, {})
Request.__name = "h2lua.Http2ServerRequest"
M.Http2ServerRequest = Request

local function new_request(stream, headers, raw)
  local self = setmetatable({
    stream = stream, headers = headers, rawHeaders = raw,
    method = headers[":method"], url = headers[":path"],
    authority = headers[":authority"] or headers.host,
    scheme = headers[":scheme"], httpVersion = stream._http_version or "2.0",
    httpVersionMajor = stream._h1 and 1 or 2,
    httpVersionMinor = stream._http_version == "1.1" and 1 or 0, _events = false,
  }, Request)
  return self
end

-- req:read() / req:readAll(): the body, as on the stream
function req_methods:read() return self.stream:read() end
function req_methods:readAll(options) return self.stream:readAll(options) end
function req_methods:resume() self.stream:resume() return self end
function req_methods:pause() self.stream:pause() return self end
-- req:setTimeout(msecs[, cb]) -> req
function req_methods:setTimeout(ms, cb)
  self.stream:setTimeout(ms, cb)
  return self
end
-- req:destroy([err]) -> req
function req_methods:destroy(err)
  self.stream:destroy(err)
  return self
end

-- 'data' and 'end' listeners go to the stream: adding one there starts
-- the flow, exactly as on the stream itself.
function req_methods:_onlisten(name)
  if name == "data" or name == "end" then
    if not self._piped then
      self._piped = true
      local st = self.stream
      st:on("data", function(chunk) self:emit("data", chunk) end)
      st:on("end", function() self:emit("end") end)
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
  finished = function(self) return self._ended end,
  writableEnded = function(self) return self._ended end,
  writableFinished = function(self) return self._finished end,
  socket = function(self) return self.stream.session.socket end,
  connection = function(self) return self.stream.session.socket end,
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

local function new_response(stream, req)
  return setmetatable({
    stream = stream, req = req, _status = 200, _send_date = true,
    _headers = {}, _names = {}, _ended = false, _finished = false,
    _trailers = false, _events = false,
  }, Response)
end

local function check_name(name)
  if type(name) ~= "string" or name == "" or
     not name:find("^[%w!#%$%%&'%*%+%-%.%^_`|~]+$") then
    errors.raise("ERR_INVALID_HTTP_TOKEN", "Header name", tostring(name))
  end
  return name:lower()
end

local function check_sent(self)
  if self.stream.headersSent then errors.raise("ERR_HTTP2_HEADERS_SENT") end
end

-- res:setHeader(name, value) -> res
function res_methods:setHeader(name, value)
  check_sent(self)
  local lower = check_name(name)
  if value == nil then
    errors.raise("ERR_HTTP2_INVALID_HEADER_VALUE", "nil", name)
  end
  if type(value) == "table" then
    for _, v in ipairs(value) do headers_mod.check_value(lower, v) end
  else
    headers_mod.check_value(lower, value)
  end
  self._headers[lower] = value
  self._names[lower] = name
  return self
end

-- res:getHeader(name) -> value | nil
function res_methods:getHeader(name)
  return self._headers[check_name(name)]
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
  return self._headers[check_name(name)] ~= nil
end

-- res:removeHeader(name)
function res_methods:removeHeader(name)
  check_sent(self)
  local lower = check_name(name)
  self._headers[lower] = nil
  self._names[lower] = nil
end

local function begin_send(self)
  local st = self.stream
  if st.headersSent or st.destroyed then return end
  local h = {}
  for k, v in pairs(self._headers) do h[k] = v end
  h[":status"] = self._status
  st:respond(h, { sendDate = self._send_date, _reason = st._h1 and rawget(self, "_reason") or nil })
end

-- res:writeHead(statusCode[, statusMessage][, headers]) -> res
function res_methods:writeHead(code, msg, headers)
  if self.stream.destroyed then return self end
  check_sent(self)
  if headers == nil and type(msg) == "table" then headers = msg end
  if type(msg) == "string" then self.statusMessage = msg end
  if type(headers) == "table" then
    if #headers > 0 and type(headers[1]) == "string" then
      -- a flat list: name, value, name, value, ...
      for i = 1, #headers, 2 do self:setHeader(headers[i], headers[i + 1]) end
    elseif #headers > 0 then
      for _, pair in ipairs(headers) do self:setHeader(pair[1], pair[2]) end
    else
      for k, v in pairs(headers) do
        if type(k) == "string" then self:setHeader(k, v) end
      end
    end
  end
  self.statusCode = code
  begin_send(self)
  return self
end

-- res:write(chunk[, cb]) -> bool
function res_methods:write(chunk, cb)
  if self._ended then
    local err = errors.new("ERR_STREAM_WRITE_AFTER_END")
    if type(cb) == "function" then sched.defer(cb, err) end
    error(err, 2)
  end
  begin_send(self)
  return self.stream:write(chunk, cb)
end

-- res:finish([data][, cb]) -> res; also res["end"]
function res_methods:finish(data, cb)
  if type(data) == "function" then data, cb = nil, data end
  if cb then self:once("finish", cb) end
  if self._ended then return self end
  self._ended = true
  begin_send(self)
  local st = self.stream
  if self._trailers then st:_trailersLater() end
  st:finish(data)
  return self
end
res_methods["end"] = res_methods.finish

-- res:addTrailers(headers): sent after the body
function res_methods:addTrailers(headers)
  local t = self._trailers or {}
  for k, v in pairs(headers) do t[k] = v end
  self._trailers = t
end

-- res:writeContinue(): 100 Continue
function res_methods:writeContinue()
  self.stream:additionalHeaders({ [":status"] = 100 })
end

-- res:writeEarlyHints(hints): 103 Early Hints; hints.link is required
function res_methods:writeEarlyHints(hints)
  if type(hints) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "hints", "of type table", errors.describe(hints))
  end
  local link = hints.link
  if link == nil or (type(link) == "table" and #link == 0) or link == "" then
    errors.raise("ERR_INVALID_ARG_VALUE", "hints.link", errors.describe(link))
  end
  local h = { [":status"] = 103 }
  for k, v in pairs(hints) do
    if type(k) == "string" then h[k:lower()] = v end
  end
  if type(link) == "table" then h.link = table.concat(link, ", ") end
  self.stream:additionalHeaders(h)
end

-- res:setTimeout(msecs[, cb]) -> res
function res_methods:setTimeout(ms, cb)
  self.stream:setTimeout(ms, cb)
  return self
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
  if self.stream.destroyed then
    local err = errors.new("ERR_HTTP2_INVALID_STREAM")
    if co then return err end
    sched.defer(cb, err)
    return
  end
  local function done(err, stream)
    if err then return err end
    local res = new_response(stream, nil)
    stream:on("close", function()
      if res._ended then res._finished = true; res:emit("finish") end
      res:emit("close")
    end)
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
  stream:on("close", function()
    if res._ended and stream.rstCode == C.NGHTTP2_NO_ERROR then
      res._finished = true
      res:emit("finish")
    end
    req:emit("close")
    res:emit("close")
  end)
end

-- M.dispatch(server, stream, headers, raw) -> whether it was handled:
-- Node.js's onServerStream.
function M.dispatch(server, stream, headers, raw)
  local req = new_request(stream, headers, raw)
  local res = new_response(stream, req)
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
