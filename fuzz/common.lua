-- What every fuzz script shares: Lua errors are collected (and become a
-- crash in fuzz.c) unless they are the script's deliberate ones or a
-- Node.js error object that the API raises for a reason (writing to a
-- stream the peer reset, ...); messages to io.stderr are errors too.
local core = require "h2lua_core"
local sched = require "h2lua.sched"

local M = {}
M.MARK = "FUZZ-DELIBERATE"
local problems = {}
local real_stderr = io.stderr
local tracing = os.getenv("H2LUA_FUZZ_TRACE") ~= nil

-- F.trace(...): to the real stderr when H2LUA_FUZZ_TRACE is set (to see
-- what an input reaches)
function M.trace(...)
  if not tracing then return end
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  real_stderr:write("fuzz: ", table.concat(parts, " "), "\n")
end

local function note(what, msg)
  msg = tostring(msg)
  M.trace(what, msg)
  if msg:find(M.MARK, 1, true) then return end
  problems[#problems + 1] = what .. ": " .. msg
end

-- the engine's and the library's reports go through io.stderr
local sink = setmetatable({}, { __index = {
  write = function(self, ...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    note("stderr", table.concat(parts))
    return self
  end,
  flush = function(self) return self end,
  close = function() return true end,
  setvbuf = function() return true end,
} })
io.stderr = sink

-- an error in the Lua dispatcher (a library handler of an engine event)
core.init { traceback = function(e)
  note("dispatcher", type(e) == "table" and (tostring(e.code) .. " " .. tostring(e.message)) or e)
  return sched.msgh(e)
end }

-- guard(fn, ...): runs fn; an error object with a Node code is the API
-- refusing (hostile input makes streams vanish under the handler), any
-- other error is a bug.
function M.guard(fn, ...)
  local ok, e = xpcall(fn, function(err)
    if type(err) == "table" and err.code then return err end
    return debug.traceback(tostring(err), 2)
  end, ...)
  if not ok then
    if type(e) == "table" and e.code then M.trace("refused:", e.code, e.message)
    else note("handler", e) end
  end
  return ok, e
end

function M.noop() end

-- the problems since the last call, as one string ("" when none)
function _G.fuzz_problems()
  local s = table.concat(problems, "\n")
  problems = {}
  return s
end

return M
