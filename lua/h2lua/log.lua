-- The runtime's own messages on stderr ("h2lua: ..."), filtered by level
-- (h2lua --log-level, or log.setLevel): error, warn, info (the default),
-- debug. Also how an error value reads in those lines: tables thrown as
-- errors show their fields, not their address.
local M = {}

local LEVELS = { error = 1, warn = 2, info = 3, debug = 4 }
M.LEVELS = LEVELS
local current = LEVELS.info

-- log.setLevel(name) -> true | nil, message
function M.setLevel(name)
  local n = LEVELS[name]
  if not n then return nil, "not a log level: " .. tostring(name) .. " (error, warn, info, debug)" end
  current = n
  return true
end

-- log.level() -> the level's name
function M.level()
  for k, v in pairs(LEVELS) do if v == current then return k end end
end

-- log.enabled(name) -> whether messages of that level are written
function M.enabled(name) return LEVELS[name] <= current end

local function scalar(v)
  if type(v) == "string" then return (string.format("%q", v):gsub("\\\n", "\\n")) end
  return tostring(v)
end

-- log.describe(err) -> a readable text for any error value: strings as
-- they are, objects with __tostring through it, other tables as
-- {k = v, ...} one level deep (sorted, bounded).
function M.describe(e)
  if type(e) ~= "table" then return tostring(e) end
  local mt = getmetatable(e)
  if type(mt) == "table" and mt.__tostring then
    local ok, s = pcall(tostring, e)
    if ok and type(s) == "string" then return s end
  end
  local keys = {}
  for k in pairs(e) do
    if k ~= "stack" then keys[#keys + 1] = k end
    if #keys > 64 then break end
  end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  local parts = {}
  for i, k in ipairs(keys) do
    if i > 32 then parts[#parts + 1] = "..." break end
    local v = e[k]
    local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. scalar(k) .. "]"
    parts[#parts + 1] = key .. " = " .. (type(v) == "table" and "{...}" or scalar(v))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- log.write(level, ...): one message (its parts concatenated), prefixed
-- "h2lua: ", when |level| is enabled.
function M.write(level, ...)
  if LEVELS[level] > current then return end
  local n = select("#", ...)
  local parts = { "h2lua: ", ... }
  for i = 2, n + 1 do
    if type(parts[i]) ~= "string" then parts[i] = M.describe(parts[i]) end
  end
  parts[n + 2] = "\n"
  io.stderr:write(table.concat(parts))
end

function M.error(...) M.write("error", ...) end
function M.warn(...) M.write("warn", ...) end
function M.info(...) M.write("info", ...) end
function M.debug(...) M.write("debug", ...) end

-- log.error_with_stack(prefix, err): the error line, then the stack a
-- table error carries (a string error holds its own traceback).
function M.error_with_stack(prefix, err)
  if current < LEVELS.error then return end
  M.write("error", prefix, M.describe(err))
  if type(err) == "table" and type(err.stack) == "string" then
    io.stderr:write((err.stack:gsub("^\n", "")), "\n")
  end
end

-- The request headers a dead coroutine's frames hold (its handler's
-- `headers`, or the engine's entry's), the deepest found; nil if none.
-- Named locals and varargs only: a temporary slot of a pooled coroutine
-- may still hold an earlier request's.
local core
local function is_headers(v)
  if type(v) ~= "table" then return false end
  if type(rawget(v, ":method")) == "string" then return true end
  core = core or require "h2lua_core"
  return core.headers_pending(v) and type(v[":method"]) == "string"
end
local function headers_in(co)
  if type(co) ~= "thread" then return nil end
  local found
  for level = 0, 200 do
    if not debug.getinfo(co, level, "l") then break end
    for i = 1, 250 do
      local name, v = debug.getlocal(co, level, i)
      if name == nil then break end
      if name:sub(1, 1) ~= "(" and is_headers(v) then found = v end
    end
    for i = -1, -8, -1 do
      local name, v = debug.getlocal(co, level, i)
      if name == nil then break end
      if is_headers(v) then found = v end
    end
  end
  return found
end

-- log.request_context(stream[, co]) -> "GET /path, stream 1, peer
-- 127.0.0.1:4000": which request an error line is about (|co|: the
-- handler's dead coroutine, where its headers are found when the access
-- log did not note them).
function M.request_context(stream, co)
  local ok, text = pcall(function()
    local al = package.loaded["http2.accesslog"]
    local h = al and al.request_of(stream) or headers_in(co) or {}
    local session = stream.session or stream._session
    local sock = session and session.socket
    local addr = sock and sock.remoteAddress
    if addr and addr:find(":", 1, true) then addr = "[" .. addr .. "]" end
    return string.format("%s %s, stream %s, peer %s:%s", h[":method"] or "-",
      h[":path"] or "-", tostring(stream.id or "-"), addr or "-",
      tostring(sock and sock.remotePort or "-"))
  end)
  return ok and text or "stream ?"
end

return M
