-- Performance observation of sessions and streams, the Lua form of Node's
-- perf_hooks PerformanceObserver for entryType 'http2': entries named
-- 'Http2Session' and 'Http2Stream' with the document's fields, delivered
-- to observers after the current event (as Node buffers them).
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local core = sched.core

local M = {}
local observers = {}   -- observer -> true, those observing 'http2'
local nobservers = 0
local origin = core.now() -- the time origin: startTime is relative to it
local tap = nil -- fn(stream, metrics) at every stream's close (the access log)

-- Every stream's close reaches Lua while anyone needs its numbers.
local function sync() core.observe(nobservers > 0 or tap ~= nil) end

-- M.set_tap(fn|nil): |fn|(stream, metrics|nil) runs at every stream's close
function M.set_tap(fn)
  tap = fn
  sync()
end

local Observer = {}
Observer.__index = Observer
Observer.__name = "h2lua.PerformanceObserver"

local EntryList = {}
EntryList.__index = EntryList
-- list:getEntries() / getEntriesByType(t) / getEntriesByName(n[, t])
function EntryList:getEntries() return { table.unpack(self._e) } end
function EntryList:getEntriesByType(t)
  local out = {}
  for _, e in ipairs(self._e) do if e.entryType == t then out[#out + 1] = e end end
  return out
end
function EntryList:getEntriesByName(n, t)
  local out = {}
  for _, e in ipairs(self._e) do
    if e.name == n and (t == nil or e.entryType == t) then out[#out + 1] = e end
  end
  return out
end

-- PerformanceObserver.new(callback(list, observer)) -> observer
function Observer.new(cb)
  errors.check_function(cb, "callback")
  return setmetatable({ _cb = cb, _buf = {}, _on = false }, Observer)
end

-- observer:observe({entryTypes = {...}} | {type = "http2"})
function Observer:observe(opts)
  if type(opts) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(opts))
  end
  local types = opts.entryTypes or (opts.type and { opts.type })
  if type(types) ~= "table" then
    errors.raise("ERR_INVALID_ARG_VALUE", "options", "without entryTypes or type")
  end
  local want = false
  for _, t in ipairs(types) do if t == "http2" then want = true end end
  if want and not self._on then
    self._on = true
    observers[self] = true
    nobservers = nobservers + 1
    sync() -- every stream's close reaches Lua for its entry
  elseif not want then
    self:disconnect()
  end
end

-- observer:disconnect()
function Observer:disconnect()
  if self._on then
    self._on = false
    observers[self] = nil
    nobservers = nobservers - 1
    if nobservers == 0 then sync() end
  end
  self._buf = {}
end

-- observer:takeRecords() -> the entries not delivered yet
function Observer:takeRecords()
  local b = self._buf
  self._buf = {}
  return b
end

Observer.supportedEntryTypes = { "http2" }
M.PerformanceObserver = Observer

local function deliver(obs)
  local b = obs._buf
  obs._pending = false
  if #b == 0 or not obs._on then return end
  obs._buf = {}
  obs._cb(setmetatable({ _e = b }, EntryList), obs)
end

local function publish(entry)
  for obs in pairs(observers) do
    local b = obs._buf
    b[#b + 1] = entry
    if not obs._pending then
      obs._pending = true
      sched.defer(deliver, obs)
    end
  end
end

-- M.active() -> whether anyone observes (entries are only built then)
function M.active() return nobservers > 0 or tap ~= nil end

local function entry(name, start, t_end, fields)
  fields.name = name
  fields.entryType = "http2"
  fields.startTime = start - origin
  fields.duration = t_end - start
  fields.detail = fields -- Node 18 also offers the fields under detail
  return fields
end

-- Called when a stream closed; adds to its session's averages.
function M.stream_entry(stream, m)
  if tap then tap(stream, m) end
  local now = core.now()
  local session = stream.session
  if m and m.startTime > 0 and session then
    session._stream_time = session._stream_time + (now - m.startTime)
    session._streams_closed = session._streams_closed + 1
  end
  if nobservers == 0 or not m then return end
  local function since(t) return t > 0 and t - m.startTime or 0 end
  publish(entry("Http2Stream", m.startTime, now, {
    id = stream.id, bytesRead = m.bytesRead, bytesWritten = m.bytesWritten,
    timeToFirstByte = since(m.firstByte),
    timeToFirstByteSent = since(m.firstByteSent),
    timeToFirstHeader = since(m.firstHeader),
  }))
end

-- Called when a session closed.
function M.session_entry(session)
  if nobservers == 0 then return end
  local m = session._metrics
  if not m then return end
  local n = session._streams_closed
  publish(entry("Http2Session", m.startTime, core.now(), {
    type = session.type == 0 and "server" or "client",
    bytesRead = m.bytesRead, bytesWritten = m.bytesWritten,
    framesReceived = m.framesReceived, framesSent = m.framesSent,
    maxConcurrentStreams = m.maxConcurrentStreams, streamCount = m.streamCount,
    streamAverageDuration = n > 0 and session._stream_time / n or 0,
    pingRTT = session._ping_rtt,
  }))
end

return M
