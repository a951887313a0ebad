-- The access log (beyond Node.js; docs/logging.md): one JSON line per
-- request of the servers that have one (the accessLog option, or h2lua
-- --access-log for every server). Off, it costs the requests nothing: it
-- installs itself (a stream entry that notes the request, a wrapper for
-- the listener the engine calls directly, a tap at each stream's close)
-- only when the first server with a log is made.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local log = require "h2lua.log"
local perf = require "h2lua.perf"
local Session = require "http2.session"
local core = sched.core

local M = {}

-- The sink of servers made without an accessLog option (nil: none).
M.default = nil

local reqs = setmetatable({}, { __mode = "k" }) -- stream -> its request headers

-- Writers: lines are buffered and written by the loop, in one write per
-- loop turn (an immediate), and at exit (M.flush).
local writers = {}      -- path -> writer
local pending = {}      -- writers with lines not written yet
local scheduled = false

local function write_out(w)
  if w.n == 0 then return end
  local data = table.concat(w.buf, "", 1, w.n)
  for i = 1, w.n do w.buf[i] = nil end
  w.n = 0
  local ok, err = w.f:write(data)
  if ok then ok, err = w.f:flush() end
  if not ok and not w.failed then
    w.failed = true -- said once; later lines are still tried
    log.error("access log ", w.name, ": ", tostring(err))
  end
end

-- M.flush(): writes every buffered line now.
function M.flush()
  scheduled = false
  for w in pairs(pending) do
    pending[w] = nil
    write_out(w)
  end
end

local function push(w, line)
  w.n = w.n + 1
  w.buf[w.n] = line
  pending[w] = true
  if w.n >= 256 then
    pending[w] = nil
    write_out(w)
  elseif not scheduled then
    scheduled = true
    require("h2lua.timers").setImmediate(M.flush):unref()
  end
end

-- M.sink(spec) -> a function(line) | false: "-" (standard output), a file
-- path (appended to; one handle per path), a function called with each
-- line (without its newline), or false (no log). Raises for others, or
-- when the file cannot be opened.
function M.sink(spec, what)
  what = what or "options.accessLog"
  if spec == false then return false end
  if type(spec) == "function" then
    return function(line)
      local ok, err = pcall(spec, line)
      if not ok then log.error("access log function: ", err) end
    end
  end
  if type(spec) ~= "string" or spec == "" then
    errors.raise("ERR_INVALID_ARG_TYPE", what, "a file name, \"-\", a function or false",
      errors.describe(spec))
  end
  local w = writers[spec]
  if not w then
    local f, err
    if spec == "-" then
      f = io.stdout
    else
      f, err = io.open(spec, "a")
      if not f then errors.raise("ERR_INVALID_ARG_VALUE", what, tostring(err)) end
      f:setvbuf("full", 65536)
    end
    w = { f = f, name = spec == "-" and "(standard output)" or spec, buf = {}, n = 0 }
    writers[spec] = w
  end
  return function(line) push(w, line .. "\n") end
end

-- JSON strings: quotes, backslashes and control bytes escaped; bytes that
-- are not UTF-8 as \u00XX.
local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local find, gsub, format = string.find, string.gsub, string.format
local function jstr(s)
  if s == nil then return "null" end
  s = tostring(s)
  if not find(s, '[%c"\\\128-\255]') then return '"' .. s .. '"' end
  s = gsub(s, '[%c"\\]', function(c) return ESC[c] or format("\\u%04x", c:byte()) end)
  if not utf8.len(s) then -- each byte that starts no UTF-8 sequence
    local out, i = {}, 1
    while true do
      local n, bad = utf8.len(s, i)
      if n then out[#out + 1] = s:sub(i) break end
      out[#out + 1] = s:sub(i, bad - 1)
      out[#out + 1] = format("\\u%04x", s:byte(bad))
      i = bad + 1
    end
    s = table.concat(out)
  end
  return '"' .. s .. '"'
end

-- "time":"...": the date part made once per second
local last_sec, last_date = -1, ""
local function iso8601(t)
  local sec = t // 1
  if sec ~= last_sec then
    last_sec, last_date = sec, os.date("!%Y-%m-%dT%H:%M:%S", math.tointeger(sec))
  end
  return format('"%s.%03dZ"', last_date, math.tointeger((t - sec) * 1000 // 1))
end

-- What a line says of its connection, made once per session (and again
-- when an HTTP/1.1 session becomes h2c).
local function conn_part(session, h1)
  local cached = session and rawget(session, "_alog_conn")
  if cached and cached[1] == h1 then return cached[2] end
  local sock = session and session.socket
  local proto = h1 and ("http/" .. h1) or (session and session.encrypted and "h2" or "h2c")
  local part = format('"peer":%s,"peerPort":%s,"protocol":%s,', jstr(sock and sock.remoteAddress),
    tostring(math.tointeger(sock and sock.remotePort) or "null"), jstr(proto))
  if session then rawset(session, "_alog_conn", { h1, part }) end
  return part
end

-- The line of one request (docs/logging.md has the fields).
local function line_of(stream, headers, m)
  local session = stream.session or stream._session
  local sent = stream.sentHeaders
  local status = sent and tonumber(sent[":status"]) or 0
  local duration = m and m.startTime > 0 and core.now() - m.startTime or 0
  return format('{"time":%s,%s"method":%s,"path":%s,"status":%d,"bytes":%d,"duration":%.3f,"stream":%d}',
    iso8601(core.walltime() - duration / 1000),
    conn_part(session, stream._h1 and (stream._http_version or "1.1")),
    jstr(headers[":method"]), jstr(headers[":path"]), status,
    m and m.bytesWritten or 0, duration, math.tointeger(stream.id) or 0)
end

local function on_close(stream, m)
  local headers = reqs[stream]
  if headers == nil then return end
  reqs[stream] = nil
  local session = stream.session or stream._session
  local server = session and session._server
  local sink = server and server._access_log
  if not sink then return end
  local ok, line = pcall(line_of, stream, headers, m)
  if ok then sink(line) else log.error("access log: ", line) end
end

-- The entry of every new request while the log is on: the request is
-- noted for its server's log, then goes its usual way.
local entry = Session.stream_entry
local function logged_entry(session, stream, headers, raw, ended, http1)
  local server = session._server
  if server and server._access_log then
    reqs[stream] = headers
    -- the socket is unbound once the session closes: its part is made
    -- now (an HTTP/2 session's first request comes this way)
    if not http1 then conn_part(session, nil) end
  end
  return entry(session, stream, headers, raw, ended, http1)
end

-- The listener the engine calls directly (core.session_fast), for a
-- session whose server logs: wrapped to note the request first.
local wrapped = setmetatable({}, { __mode = "k" })
local function fast(box, l, session)
  local server = session and session._server
  if server and server._access_log and l then
    local w = wrapped[l]
    if not w then
      local listener = l
      w = function(stream, headers, flags, raw)
        reqs[stream] = headers
        return listener(stream, headers, flags, raw)
      end
      wrapped[l] = w
    end
    l = w
  end
  return core.session_fast(box, l)
end

local installed = false
local function install()
  if installed then return end
  installed = true
  core.init { stream_entry = logged_entry }
  Session._set_fast(fast)
  core.listeners_changed() -- sessions the engine feeds directly go through fast()
  perf.set_tap(on_close)
end

-- M.set_default(spec): the log of servers made without an accessLog
-- option (h2lua --access-log); opens it now.
function M.set_default(spec)
  M.sink(spec, "--access-log")
  M.default = spec
end

-- M.attach(server, spec): |server|'s requests go to the log |spec| (see
-- M.sink; nil: M.default).
function M.attach(server, spec)
  if spec == nil then spec = M.default end
  local sink = spec ~= nil and M.sink(spec) or false
  server._access_log = sink
  if sink then install() end
end

-- M.request_of(stream) -> the request headers noted for |stream|, or nil
function M.request_of(stream) return reqs[stream] end

return M
