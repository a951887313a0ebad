-- ServerHttp2Stream: the Node.js object over an engine stream handle.
-- Body in: 'data'/'end' events (flowing once a 'data' listener is added) or
-- read()/readAll() in a coroutine; the peer's window opens only as Lua
-- takes bytes. Body out: write() returns false above the high-water mark,
-- 'drain' follows; finish() ends it.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local Emitter = require "h2lua.emitter"
local headers_mod = require "http2.headers"
local C = require "http2.constants"
local timers = require "h2lua.timers"
local perf = require "h2lua.perf"
local core = sched.core

local Stream = {}
local methods = Emitter.extend({})
Stream.methods = methods

-- A stream object is a userdata (core.stream_class): its Node.js fields
-- (id, session, headersSent, closed, rstCode, bufferSize, state,
-- sentHeaders, ...) live in the engine's box and are computed when read;
-- methods are found in |methods|; fields only Lua uses go to a table of
-- the object's own, made on first write, with these defaults.
local defaults = {
  _flowing = false, _reader = false, _wcbs = false, _need_drain = false,
  _trailers_later = false, _events = false, _waiters = false, _timer = false,
  _ignored = 0, _destroying = false, _did_read = false,
  writableHighWaterMark = 16384, -- HIGH_WATER_MARK below (Node's Writable field)
}
Stream.defaults = defaults

local HIGH_WATER_MARK = 16384
-- What writes made after write() returned false (before 'drain') may add:
-- past it a handler that ignores false is stopped, not buffered without
-- bound.
local MAX_IGNORED = 64 * HIGH_WATER_MARK
Stream.MAX_IGNORED = MAX_IGNORED
local NO_ERROR, CANCEL, INTERNAL_ERROR = C.NGHTTP2_NO_ERROR, C.NGHTTP2_CANCEL,
  C.NGHTTP2_INTERNAL_ERROR

local code_names = {}
for k, v in pairs(C) do
  if k:match("^NGHTTP2_") and not k:match("^NGHTTP2_ERR_") and type(v) == "number"
    and v >= 0 and v <= 13 and (k:match("ERROR$") or k:match("_NO_ERROR$")
    or k == "NGHTTP2_CANCEL" or k == "NGHTTP2_REFUSED_STREAM"
    or k == "NGHTTP2_SETTINGS_TIMEOUT" or k == "NGHTTP2_STREAM_CLOSED"
    or k == "NGHTTP2_ENHANCE_YOUR_CALM" or k == "NGHTTP2_INADEQUATE_SECURITY"
    or k == "NGHTTP2_HTTP_1_1_REQUIRED") then
    code_names[v] = k
  end
end
Stream.code_names = code_names

Stream.mt = core.stream_class(methods, defaults, function(self)
  return string.format("h2lua.Stream %s%s", tostring(self.id),
    self.destroyed and " (closed)" or "")
end)

-- Stream._new(session, endStream, method) -> a stream Lua makes (a push, a
-- client request: core.push/core.request give it its stream); the engine
-- makes request streams itself.
function Stream._new(session, end_stream, method)
  local self = core.stream_new(session)
  if end_stream then
    self.endAfterHeaders = true
    self._remote_ended = true
  end
  if method == "HEAD" then self._head = true end
  return self
end

local function check_live(self)
  if self.destroyed or self.closed then errors.raise("ERR_HTTP2_INVALID_STREAM") end
  -- a destroyed session's streams are destroyed at once in Node, before
  -- their close events reach Lua here
  local se = self.session
  if se and se.destroyed then errors.raise("ERR_HTTP2_INVALID_STREAM") end
end

local status_str = setmetatable({}, { __index = function(t, k)
  local s = string.format("%d", k)
  t[k] = s
  return s
end })

local skip_status = { [":status"] = true }

-- stream:respond([headers][, options]) -> nil; raises Node's errors. The
-- engine answers plain headers itself (core.stream_respond_method); this
-- is the full version it falls back to.
local function respond(self, headers, options)
  check_live(self)
  if self.headersSent then errors.raise("ERR_HTTP2_HEADERS_SENT") end
  if headers == nil then headers = {} end
  if type(headers) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "headers", "of type table", errors.describe(headers))
  end
  local end_stream, wait_trailers, send_date = false, false, true
  if options ~= nil then
    if type(options) ~= "table" then
      errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
    end
    end_stream = options.endStream == true
    wait_trailers = options.waitForTrailers == true
    if options.sendDate == false then send_date = false end
  end
  local st = headers[":status"]
  local status = math.type(st) == "integer" and st
    or math.tointeger(math.floor(tonumber(st) or 0)) or 0
  if status == 0 then status = 200 end
  if status < 200 or status > 599 then
    errors.raise("ERR_HTTP2_STATUS_INVALID", st)
  end
  local n, sens, cased = headers_mod.flatten(headers, headers_mod.response_pseudo, skip_status)
  local flat = headers_mod.flat
  local date
  if send_date and headers.date == nil then
    -- as Node.js: the date goes under 'date', so a 'Date' or 'DATE' key
    -- would name that single-value field twice
    if cased and cased.date then errors.raise("ERR_HTTP2_HEADER_SINGLE_VALUE", "date") end
    date = core.date()
    flat[n + 1] = "date"
    flat[n + 2] = date
    n = n + 2
  end
  if status == 204 or status == 205 or status == 304 or self._head then
    end_stream = true
  end
  local reason = options and options._reason
  if reason and self._h1 then -- HTTP/1.1 only: the compat statusMessage
    flat[n + 1], flat[n + 2] = ":reason", reason
    n = n + 2
  end
  local ok, err = core.respond(self, end_stream, wait_trailers, sens,
    ":status", status_str[status], table.unpack(flat, 1, n))
  if ok == nil then
    errors.raise("ERR_HTTP2_ERROR", core.strerror(err))
  end
  -- Node's sentHeaders: a copy with :status (and date) set
  local sent = {}
  for k, v in pairs(headers) do sent[k] = v end
  sent[":status"] = status
  if date then sent.date = date end
  self.headersSent = true
  self.sentHeaders = sent
  self._wait_trailers = wait_trailers
  if end_stream then
    self.writableEnded = true
    self._implicit_end = true
  end
end
methods.respond = core.stream_respond_method

-- stream:pushStream(headers[, options][, cb]) -> nil: a PUSH_PROMISE;
-- cb(err, pushStream, headers). Without cb, inside a coroutine, returns
-- err, pushStream, headers (API.md).
function methods:pushStream(headers, options, cb)
  if type(options) == "function" then options, cb = nil, options end
  if not self.pushAllowed then errors.raise("ERR_HTTP2_PUSH_DISABLED", "HTTP/2 server push is disabled") end
  if self.id % 2 == 0 then errors.raise("ERR_HTTP2_NESTED_PUSH") end
  local co
  if cb == nil then
    co = sched.current("stream:pushStream")
  else
    errors.check_function(cb, "callback")
  end
  if options ~= nil and type(options) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
  end
  if type(headers) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "headers", "of type table", errors.describe(headers))
  end
  local h = {}
  for k, v in pairs(headers) do h[k] = v end
  if h[":method"] == nil then h[":method"] = "GET" end
  if h[":authority"] == nil and h.host == nil then
    h[":authority"] = self._authority or core.stream_authority(self)
  end
  if h[":scheme"] == nil then h[":scheme"] = self.session.encrypted and "https" or "http" end
  if h[":path"] == nil then h[":path"] = "/" end
  -- a HEAD push is ended by respond() (an implicit end, as in Node)
  local end_stream = options and options.endStream == true or false
  local n, sens = headers_mod.flatten(h, headers_mod.request_pseudo)
  local push = Stream._new(self.session, true, h[":method"])
  push.readableEnded = true
  push.pushAllowed = true -- the peer takes pushes (nested ones raise below)
  push.sentHeaders = h
  push._authority = h[":authority"] or h.host
  local id, why = core.push(self, push, end_stream, sens, table.unpack(headers_mod.flat, 1, n))
  if not id then
    id = why
    -- nghttp2.h's NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE and _STREAM_CLOSED
    -- (http2.constants, as Node's, does not have them)
    local err = id == -509 and errors.new("ERR_HTTP2_OUT_OF_STREAMS")
      or id == -510 and errors.new("ERR_HTTP2_INVALID_STREAM")
      or errors.new("ERR_HTTP2_ERROR", core.strerror(id))
    if co then return err end
    sched.defer(cb, err)
    return
  end
  if end_stream then push.writableEnded = true end
  if co then return nil, push, h end
  sched.defer(cb, nil, push, h)
end

-- Without onError, the stream is destroyed with |err|: its 'error' comes
-- once, before 'close'.
local function file_error(self, options, err)
  if options.onError then return options.onError(err) end
  self:destroy(err) -- destroy emits the one 'error'
end

-- Node's check of the options respondWithFile/respondWithFD take: a wrong
-- type is an invalid value (ERR_INVALID_ARG_VALUE), not an invalid type.
local function check_file_options(options)
  for _, k in ipairs({ "offset", "length" }) do
    local v = options[k]
    if v ~= nil and math.type(v) ~= "integer" then
      errors.raise("ERR_INVALID_ARG_VALUE", "options." .. k, errors.describe(v))
    end
  end
  for _, k in ipairs({ "statCheck", "onError" }) do
    local v = options[k]
    if v ~= nil and type(v) ~= "function" then
      errors.raise("ERR_INVALID_ARG_VALUE", "options." .. k, errors.describe(v))
    end
  end
end

-- The errors of the headers themselves (Node's mapToHeaders): for a file
-- response Node destroys the stream with them ('error', RST_STREAM
-- INTERNAL_ERROR) rather than throwing, whatever onError says.
local HEADER_ERRORS = { ERR_HTTP2_INVALID_PSEUDOHEADER = true, ERR_HTTP2_INVALID_HEADER_VALUE = true,
  ERR_INVALID_HTTP_TOKEN = true, ERR_HTTP2_HEADER_SINGLE_VALUE = true,
  ERR_HTTP2_INVALID_CONNECTION_HEADERS = true }

-- self:respond(h, ...) for a file response -> true when the headers went
local function respond_file_headers(self, h, options)
  local ok, err = pcall(self.respond, self, h, { waitForTrailers = options.waitForTrailers })
  if ok then return true end
  if type(err) == "table" and HEADER_ERRORS[err.code] then
    self:destroy(err)
    return false
  end
  error(err, 0)
end

-- A FIFO (or another readable file that is not regular) has no size to
-- announce and cannot seek: its bytes are piped as they come.
local function stream_special(self, options, src, h)
  local sock, why = require("h2lua.net")._open_read(src)
  if not sock then
    return file_error(self, options, errors.system(why, "open", "open " .. tostring(src) .. ": " .. tostring(why)))
  end
  if not respond_file_headers(self, h, options) then sock:destroy() return end
  if self.writableEnded then sock:destroy() return end
  self:once("close", function() sock:destroy() end)
  sock:pipe(self)
end

-- The body of respondWithFile/respondWithFD: |src| is a path, a Lua file
-- or a descriptor.
local function respond_with(self, src, headers, options, is_path)
  check_live(self)
  if self.headersSent then errors.raise("ERR_HTTP2_HEADERS_SENT") end
  if headers ~= nil and type(headers) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "headers", "of type table", errors.describe(headers))
  end
  options = options or {}
  if type(options) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
  end
  check_file_options(options)
  local st = headers and headers[":status"]
  local status = tonumber(st)
  if status == 204 or status == 205 or status == 304 then
    errors.raise("ERR_HTTP2_PAYLOAD_FORBIDDEN", math.tointeger(status) or status)
  end
  local size, mtime, regular, dir = core.file_stat(src)
  if not size then
    return file_error(self, options, errors.system(mtime, is_path and "open" or "fstat",
      (is_path and ("open " .. tostring(src)) or "fstat") .. ": " .. tostring(regular)))
  end
  local special = is_path and not regular
  if special and (dir or options.offset ~= nil or options.length ~= nil) then
    return file_error(self, options,
      errors.new(dir and "ERR_HTTP2_SEND_FILE" or "ERR_HTTP2_SEND_FILE_NOSEEK"))
  end
  local h = {}
  for k, v in pairs(headers or {}) do h[k] = v end
  -- statCheck sees what was asked for (Node's defaults: 0 and -1); the
  -- clamping to the file's size comes after
  local offset = options.offset or 0
  local length = options.length or -1
  if options.statCheck then
    local stat = { size = size, mtime = mtime, mtimeMs = mtime * 1000,
      isFile = function() return regular end,
      isDirectory = function() return dir == true end,
      isFIFO = function() return special end }
    if options.statCheck(stat, h, { offset = offset, length = length }) == false
      or self.headersSent then
      return
    end
  end
  if special then return stream_special(self, options, src, h) end
  if length < 0 then length = size - offset end
  length = math.max(0, math.min(length, size - offset))
  if is_path or h["content-length"] == nil then h["content-length"] = length end
  if not respond_file_headers(self, h, options) then return end
  if self.writableEnded then return end -- HEAD: the headers were all
  if self._h1 then -- HTTP/1.1 writes straight to the socket: copy through Lua
    local f = is_path and io.open(src, "rb") or nil
    if f then
      f:seek("set", offset)
      local left = length
      while left > 0 do
        local chunk = f:read(math.min(left, 65536))
        if not chunk then break end
        left = left - #chunk
        if not self:write(chunk) then self:wait("drain") end
      end
      f:close()
      return self:finish()
    end
  end
  local ok, why = core.add_file(self, src, offset, length)
  if not ok then return file_error(self, options, errors.system(why, "read", "read " .. tostring(why))) end
  self:finish()
end

-- stream:respondWithFile(path[, headers][, options]) -> nil: a regular file
-- as the body (content-length from its size); statCheck, onError,
-- waitForTrailers, offset, length as in Node.js
function methods:respondWithFile(path, headers, options)
  if type(path) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "path", "of type string", errors.describe(path))
  end
  return respond_with(self, path, headers, options, true)
end

-- stream:respondWithFD(fd[, headers][, options]) -> nil: the body read from
-- a Lua file handle or a descriptor (left open)
function methods:respondWithFD(fd, headers, options)
  if math.type(fd) ~= "integer" and io.type(fd) ~= "file" then
    errors.raise("ERR_INVALID_ARG_TYPE", "fd", "of type number or a file", errors.describe(fd))
  end
  return respond_with(self, fd, headers, options, false)
end

-- stream:additionalHeaders(headers) -> nil: a 1xx informational block
function methods:additionalHeaders(headers)
  check_live(self)
  if type(headers) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "headers", "of type table", errors.describe(headers))
  end
  if self.headersSent then errors.raise("ERR_HTTP2_HEADERS_AFTER_RESPOND") end
  local st = headers[":status"]
  local status = math.tointeger(math.floor(tonumber(st) or 0)) or 0
  if st ~= nil then
    if status == 101 then errors.raise("ERR_HTTP2_STATUS_101") end
    if status < 100 or status >= 200 then
      errors.raise("ERR_HTTP2_INVALID_INFO_STATUS", st)
    end
  else
    status = 100 -- Node sends no status then; nghttp2 needs one for 1xx
  end
  local n, sens = headers_mod.flatten(headers, headers_mod.response_pseudo, skip_status)
  core.info(self, sens, ":status", status_str[status],
    table.unpack(headers_mod.flat, 1, n))
  local info = self.sentInfoHeaders or {}
  info[#info + 1] = headers
  self.sentInfoHeaders = info
end

local function touch(self)
  local t = self._timer
  if t then t:refresh() end
end

local function ensure_response(self)
  if not self.headersSent then self:respond() end
end

local function check_chunk(data)
  local t = type(data)
  if t == "string" then return data end
  errors.raise("ERR_INVALID_ARG_TYPE", "chunk", "of type string", errors.describe(data))
end

-- The handler went on writing after false: the stream is reset and the
-- write raises.
local function write_ignored(self)
  local err = errors.new("ERR_H2LUA_WRITE_BUFFER_FULL", ("more than %d bytes written " ..
    "after write() returned false, without waiting for 'drain'"):format(MAX_IGNORED))
  self:destroy(err)
  error(err, 3)
end

-- stream:write(data[, cb]) -> bool: false once the buffer is above the
-- high-water mark ('drain' follows). Raises ERR_STREAM_WRITE_AFTER_END,
-- and ERR_H2LUA_WRITE_BUFFER_FULL (the stream reset) once writes made
-- after false add more than 1 MiB before 'drain'.
function methods:write(data, cb)
  check_chunk(data)
  if self.writableEnded then
    if self._implicit_end and not self._explicit_end then
      -- a body for HEAD, 204, 205 or 304: as in Node, 'error' (when
      -- listened to) and the callback say so; the write itself returns
      local err = errors.new("ERR_STREAM_WRITE_AFTER_END")
      if type(cb) == "function" then sched.defer(cb, err) end
      if self:listenerCount("error") > 0 then sched.defer(self.emit, self, "error", err) end
      return false
    end
    local err = errors.new("ERR_STREAM_WRITE_AFTER_END")
    if type(cb) == "function" then sched.defer(cb, err) end
    error(err, 2)
  end
  check_live(self)
  ensure_response(self)
  if self.writableEnded then return false end -- HEAD, 204, 304: no body
  if self._need_drain then
    local ignored = self._ignored + #data
    if ignored > MAX_IGNORED then write_ignored(self) end
    self._ignored = ignored
  end
  local want = type(cb) == "function"
  touch(self)
  local buffered = core.write(self, data, want)
  if not buffered then return false end
  if want then
    core.watch(self)
    local w = self._wcbs
    if not w then
      self._wcbs = { cb }
    else
      w[#w + 1] = cb
    end
  end
  if buffered >= HIGH_WATER_MARK then
    self._need_drain = true
    core.want_drain(self)
    return false
  end
  return true
end

-- stream:finish([data][, cb]) -> stream; also stream["end"]. The engine
-- ends a responded stream itself (core.stream_finish_method); this is the
-- full version it falls back to.
local function finish(self, data, cb)
  if type(data) == "function" then data, cb = nil, data end
  if data ~= nil then check_chunk(data) end
  if type(cb) == "function" then self:once("finish", cb) end
  if self.writableEnded then
    self._explicit_end = true
    return self
  end
  if self.destroyed then return self end
  ensure_response(self)
  self._explicit_end = true
  if self.writableEnded then return self end
  self.writableEnded = true
  core.finish(self, data, self._trailers_later)
  return self
end
methods.finish = core.stream_finish_method

-- The body ends without END_STREAM: 'wantTrailers' follows (compat).
function methods:_trailersLater()
  self._trailers_later = true
  core.want_trailers(self)
end
methods["end"] = methods.finish
core.init { respond = respond, finish = finish }

-- stream:sendTrailers(headers) -> nil
function methods:sendTrailers(headers)
  check_live(self)
  if self._trailers_sent then errors.raise("ERR_HTTP2_TRAILERS_ALREADY_SENT") end
  if not self._want_trailers_emitted then errors.raise("ERR_HTTP2_TRAILERS_NOT_READY") end
  if type(headers) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "headers", "of type table", errors.describe(headers))
  end
  local n, sens = headers_mod.flatten(headers, headers_mod.no_pseudo)
  self._trailers_sent = true
  self.sentTrailers = headers
  core.trailers(self, sens, table.unpack(headers_mod.flat, 1, n))
end

local close_events

-- The readable side ended: 'end', then a 'close' that waited for it.
local function read_ended(self)
  if self._close_code then Emitter.emit_guarded(self, "Http2Stream", "end") else self:emit("end") end
  local code = self._close_code
  if code then
    self._close_code = nil
    close_events(self, code)
  end
end
Stream._emit_end = read_ended

-- The next chunk: bytes kept from before the close first.
local function take(self)
  local tail = self._tail
  if tail then
    self._tail = nil
    return tail
  end
  return core.read(self)
end

-- stream:read() -> chunk | nil (end of body) | nil, "closed" | nil, "busy"
function methods:read()
  if not self._did_read then self._did_read = true end
  while true do
    local chunk = take(self)
    if chunk then return chunk end
    if self._remote_ended then
      if not self.readableEnded then
        self.readableEnded = true
        sched.defer(read_ended, self)
      end
      return nil
    end
    if self.destroyed then
      local code = self._close_code
      if code then
        self._close_code = nil
        sched.spawn(close_events, self, self, code)
      end
      return nil, "closed"
    end
    if self._reader then return nil, "busy" end
    self._reader = sched.current("stream:read")
    sched.wait()
  end
end

-- stream:readAll([{limit=}]) -> the whole body | nil, "closed" | nil, err
-- (ERR_BUFFER_TOO_LARGE once more than |limit| bytes came, 16 MiB by
-- default: what was read is dropped, the rest stays unread)
function methods:readAll(options)
  local limit = errors.read_limit(options)
  local parts, n, size = {}, 0, 0
  while true do
    local chunk, err = self:read()
    if chunk == nil then
      if err then return nil, err end
      return table.concat(parts, "", 1, n)
    end
    size = size + #chunk
    if size > limit then return nil, errors.new("ERR_BUFFER_TOO_LARGE", limit) end
    n = n + 1
    parts[n] = chunk
  end
end

-- Flowing mode: hand every buffered chunk to 'data' listeners, then 'end'.
local function flow(self)
  while self._flowing and not self.readableEnded do
    local chunk = take(self)
    if chunk == nil then
      if self._remote_ended then
        self.readableEnded = true
        read_ended(self)
      end
      return
    end
    self:emit("data", chunk)
  end
end

-- A listener means Lua waits for events up to the close; adding a 'data'
-- listener switches to flowing mode, as in Node.js.
function methods:_onlisten(name)
  core.watch(self)
  if name == "data" and not self._flowing then self:resume() end
end

-- stream:resume() / pause() -> stream
function methods:resume()
  if not self._flowing then core.reading(self) end
  self._flowing = true
  sched.defer(flow, self)
  return self
end
function methods:pause()
  self._flowing = false
  return self
end
function methods:isPaused() return not self._flowing end

-- src:pipe(dest) -> dest: every chunk written on to |dest| with
-- backpressure (paused until its 'drain'), then dest:finish() at 'end';
-- nothing more once |dest| is closed or ended.
function Stream.pipe(self, dest)
  local function gone() return dest.destroyed or dest.writableEnded end
  self:on("data", function(chunk)
    if gone() then return end
    if not dest:write(chunk) then
      self:pause()
      dest:once("drain", function() self:resume() end)
    end
  end)
  self:on("end", function() if not gone() then dest:finish() end end)
  return dest
end
methods.pipe = Stream.pipe

-- stream:close([code][, cb]) -> nil: RST_STREAM(code)
function methods:close(code, cb)
  if type(code) == "function" then code, cb = nil, code end
  if code == nil then code = NO_ERROR end
  -- Node.js's validateInteger: a number, integral, in range
  if type(code) ~= "number" then
    errors.raise("ERR_INVALID_ARG_TYPE", "code", "of type number", errors.describe(code))
  end
  if code ~= code or code == math.huge or code == -math.huge or code ~= math.floor(code) then
    errors.raise("ERR_OUT_OF_RANGE", "code", "an integer", code)
  end
  if code < 0 or code > 0xffffffff then
    errors.raise("ERR_OUT_OF_RANGE", "code", ">= 0 && <= 4294967295", math.tointeger(code) or code)
  end
  code = math.tointeger(code)
  if cb ~= nil then
    errors.check_function(cb, "callback")
    self:once("close", cb)
  end
  if self.closed then return end
  self.closed = true
  self.rstCode = code
  core.rst(self, code)
end

-- stream:destroy([err]) -> stream
-- A stream closed by the engine whose 'close' waits for its unread body:
-- the body is dropped and the close goes out now (destroy, a handler error).
local function drop_tail(self)
  local code = self._close_code
  if code == nil then return end
  self._close_code = nil
  self._tail = nil
  sched.spawn(close_events, self, self, code)
end

function methods:destroy(err)
  if self.destroyed then
    if err ~= nil and self._destroy_err == nil and not self._close_emitted then self._destroy_err = err end
    drop_tail(self)
    return self
  end
  -- Node's code: INTERNAL_ERROR with an error, else NO_ERROR (its session's
  -- code is 0); but with our side ended and the peer's open, the engine
  -- takes NO_ERROR as close()'s (the queued data first): CANCEL resets now
  local code = err and INTERNAL_ERROR or
    ((not self.writableEnded or self._remote_ended) and NO_ERROR or CANCEL)
  self._destroy_err = err
  self._destroying = true -- its unread body goes with it
  self.closed = true
  if not self.rstCode then self.rstCode = code end
  core.rst(self, code)
  return self
end

-- stream:priority({exclusive=, parent=, weight=, silent=}) -> nil: sends
-- PRIORITY unless silent, validated as Node.js 18 does
function methods:priority(options)
  check_live(self)
  if type(options) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
  end
  local function num(name, min)
    local v = options[name]
    if v == nil then return nil end
    if type(v) ~= "number" then
      local e = errors.new("ERR_INVALID_ARG_TYPE")
      e.message = ('The "options.%s" property must be of type number. Received %s'):format(name, errors.describe(v))
      error(e, 3)
    end
    if v < min then errors.raise("ERR_OUT_OF_RANGE", "options." .. name, ">= " .. min, v) end
    return math.tointeger(math.floor(v))
  end
  local function bool(name)
    local v = options[name]
    if v ~= nil and type(v) ~= "boolean" then
      local e = errors.new("ERR_INVALID_ARG_TYPE")
      e.message = ('The "options.%s" property must be of type boolean. Received %s'):format(name, errors.describe(v))
      error(e, 3)
    end
    return v == true
  end
  local parent, weight = num("parent", 0) or 0, num("weight", 0) or C.NGHTTP2_DEFAULT_WEIGHT
  local exclusive, silent = bool("exclusive"), bool("silent")
  if not silent then core.stream_priority(self, parent, weight, exclusive) end
end

-- stream:setTimeout(msecs[, cb]) -> stream: 'timeout' after msecs without
-- activity (bytes in or out); 0 turns it off.
function methods:setTimeout(ms, cb)
  errors.check_msecs(ms)
  if cb ~= nil then
    errors.check_function(cb, "callback")
    self:once("timeout", cb)
  end
  local t = self._timer
  if t then timers.clearTimeout(t) self._timer = false end
  core.watch(self)
  if ms > 0 and not self.destroyed then
    -- body bytes still going out count as activity: the buffer shrank
    -- since the timer was armed
    local function arm()
      local size = self.bufferSize
      local t2 = timers.setTimeout(function()
        self._timer = false
        if self.destroyed then return end
        local now = self.bufferSize
        if now > 0 and now ~= size then return arm() end
        self:emit("timeout")
      end, ms)
      t2:unref()
      self._timer = t2
    end
    arm()
  end
  return self
end

-- Handlers the runtime stopped (the CPU budget, the memory limit, a
-- signal): the server could not answer, 503.
local UNAVAILABLE = { ERR_H2LUA_CPU_BUDGET = true, ERR_H2LUA_MEMORY = true,
  ERR_H2LUA_INTERRUPTED = true }

-- An error in a handler: 500 (503 when stopped by the runtime) if nothing
-- was sent, else RST_STREAM.
function methods:_onerror(err, co)
  local log = require "h2lua.log"
  log.error_with_stack("error in stream handler (" .. log.request_context(self, co) .. "): ", err)
  -- as Node.js's captured rejections: a stream that answered already is
  -- destroyed with the error, which its 'error' listeners get (if its
  -- close is not out yet); one that had not answers 500
  if self.headersSent and self._destroy_err == nil and not self._close_emitted then
    self._destroy_err = err
  end
  if self.destroyed or self.closed then
    if self.headersSent then drop_tail(self) end
    -- its close stopped midway (a 'close' listener over the CPU budget,
    -- say): no waiter stays asleep
    if self._close_emitted then self:_closewaiters() end
    return
  end
  if not self.headersSent then
    local status = type(err) == "table" and UNAVAILABLE[err.code] and 503 or 500
    local ok = pcall(self.respond, self, { [":status"] = status })
    if ok then
      self.writableEnded = true
      core.finish(self)
      return
    end
  end
  self.rstCode = INTERNAL_ERROR
  self._destroying = true
  core.rst(self, INTERNAL_ERROR)
end

-- Engine events.
function Stream._ondata(self)
  touch(self)
  local r = self._reader
  if r then
    self._reader = false
    sched.wake(r)
  elseif self._flowing then
    sched.defer(flow, self)
  end
end

function Stream._onend(self)
  self._remote_ended = true
  Stream._ondata(self)
end

function Stream._ondrain(self)
  local w = self._wcbs
  if w then
    self._wcbs = false
    for i = 1, #w do sched.defer(w[i]) end
  end
  if self._need_drain then
    self._need_drain = false
    self._ignored = 0
    sched.defer(Stream._emit, self, "drain")
  end
end

function Stream._emit(self, name)
  self:emit(name)
end

-- Nobody listens to 'wantTrailers': empty trailers end the stream, as in
-- Node.
local function want_trailers(self)
  if self.destroyed or self.closed then return end
  if not self:emit("wantTrailers") and not self._trailers_sent then self:sendTrailers({}) end
end

function Stream._onwanttrailers(self)
  self._want_trailers_emitted = true
  sched.spawn(want_trailers, self, self)
end

function Stream._ontrailers(self, headers, raw)
  self.trailers = headers
  self._raw_trailers = raw
  sched.spawn(function() self:emit("trailers", headers, 0, raw) end, self)
end

-- A listener's error is reported and never keeps the waiters from waking.
function close_events(self, code)
  local guarded = Emitter.emit_guarded
  -- Node: 'aborted' whenever the writable side was still open, whatever
  -- the code
  local aborted = not self.writableEnded
  if aborted then
    self.aborted = true
    guarded(self, "Http2Stream", "aborted")
  end
  local err = self._destroy_err
  if err == nil and (code ~= NO_ERROR or not self._remote_ended) then
    -- cut short by its session's error (a destroy with one, or one from
    -- the engine): that error, as Node destroys each stream with it
    local se = self.session
    err = se and rawget(se, "_destroy_err") or nil
  end
  if err == nil and code ~= NO_ERROR and code ~= CANCEL then
    err = errors.new("ERR_HTTP2_STREAM_ERROR", code_names[code] or tostring(code))
  end
  if err ~= nil and self:listenerCount("error") > 0 then
    guarded(self, "Http2Stream", "error", err)
  end
  if self.writableEnded and code == NO_ERROR then guarded(self, "Http2Stream", "finish") end
  self._close_emitted = true
  guarded(self, "Http2Stream", "close")
  self:_closewaiters()
end

-- The stream closed (Lua watched it). |tail|: body bytes not read yet,
-- which stay readable; 'close' then waits for the readable side's end,
-- as in Node.js.
function Stream._onclose(self, code, tail)
  if perf.active() then perf.stream_entry(self, core.stream_metrics(self)) end
  local session = self.session or self._session
  local map = session and session._streams
  if map then map[self.id] = nil end
  if code == CANCEL and session and session.destroyed then
    code = rawget(session, "_goaway_code") or code
  end
  self.closed = true
  self.destroyed = true
  self.rstCode = code
  self.pushAllowed = false
  if tail and not self._destroying then self._tail = tail end
  local r = self._reader
  if r then
    self._reader = false
    sched.wake(r)
  end
  local w = self._wcbs
  if w then
    self._wcbs = false
    local err = errors.new("ERR_HTTP2_INVALID_STREAM")
    for i = 1, #w do sched.defer(w[i], err) end
  end
  local t = self._timer
  if t then timers.clearTimeout(t) self._timer = false end
  -- as Node.js: a stream reset with an error (or destroyed here) drops
  -- its unread body and closes now; after NO_ERROR the body stays readable
  if self._tail and (self._destroying or code ~= NO_ERROR) then self._tail = nil end
  -- RST_STREAM(NO_ERROR) ends the readable side, as END_STREAM would: a
  -- stream that flows or is read sees 'end' before 'close' (Node's
  -- push(null)); any other code is no end
  if code == NO_ERROR and not self.readableEnded then self._remote_ended = true end
  -- a server's stream nobody read from: its body is dropped, and it ends
  -- ('end', then 'close'), as Node resumes it
  if code == NO_ERROR and not self.readableEnded and not self._destroying
    and not self._did_read and not self._flowing
    and self:listenerCount("data") == 0 and session and session.type == C.NGHTTP2_SESSION_SERVER then
    self._close_code = code
    self._flowing = true
    sched.defer(flow, self)
    return
  end
  if not self.readableEnded and not self._destroying
    and (self._tail or (code == NO_ERROR and (self._flowing or r))) then
    self._close_code = code
    if self._flowing then sched.defer(flow, self) end
    return
  end
  -- nobody listens and nobody waits: nothing to run
  if not self._events and not self._waiters then
    if not self.writableEnded then self.aborted = true end
    return
  end
  sched.spawn(close_events, self, self, code)
end

-- One-shot events a wait must not miss.
function methods:_sticky(name)
  if name == "response" then
    local r = self._response
    if r then return r, self._response_flags, self._response_raw end
  elseif name == "close" then
    if self._close_emitted then return true end
  elseif name == "end" then
    if self.readableEnded then return true end
  elseif name == "ready" then
    if self.id and not self.session.connecting then return true end
  end
  return nil
end

function methods:_waitclosed(name)
  return self.destroyed and name ~= "close"
end

-- Client streams (ClientHttp2Stream) lack the server's methods: their own
-- class, made at the first client stream, once every method is defined.
local server_only = { respond = true, pushStream = true, respondWithFile = true,
  respondWithFD = true, additionalHeaders = true }
local client_mt

-- Stream.as_client(stream) -> stream, now of the client class
function Stream.as_client(self)
  if not client_mt then
    local m = {}
    for k, v in pairs(methods) do
      if not server_only[k] then m[k] = v end
    end
    client_mt = core.stream_class(m, defaults, Stream.mt.__tostring, false)
  end
  debug.setmetatable(self, client_mt)
  return self
end

return Stream
