-- What the h2lua program does with a script: load it, run the main chunk in
-- a coroutine, then the loop until idle. Returns the exit status: 0, or 1
-- when an error ended the program: the main chunk raised, or, in the
-- loop, a timer's callback or an 'error' event nobody listens to (as
-- Node.js exits on an uncaught exception; errors in other callbacks are
-- logged, a stream's handler's answered 500).
-- mode "check" (h2lua --check) only loads the script.
local h2lua = require "h2lua"
local sched = require "h2lua.sched"
local log = require "h2lua.log"

-- One line saying what failed; a Lua error's traceback after it (it
-- points into the script), an error object's stack only at debug level.
local function fatal(what, e)
  io.stderr:write("h2lua: ", what, log.describe(e), "\n")
  if type(e) == "table" and type(e.stack) == "string" and log.enabled("debug") then
    io.stderr:write(e.stack, "\n")
  end
end

local STOPPED = { ERR_H2LUA_CPU_BUDGET = true, ERR_H2LUA_MEMORY = true,
  ERR_H2LUA_INTERRUPTED = true }

local function flush_logs()
  local al = package.loaded["http2.accesslog"]
  if al then al.flush() end
  io.stdout:flush()
end

return function(mode, what, ...)
  local check = mode == "check"
  if check then mode = "file" end
  if mode == "file" and what == "-" then mode = "stdin" end
  local chunk, err
  if mode == "code" then
    chunk, err = load(what, "=(command line)")
  elseif mode == "stdin" then
    chunk, err = load(io.read("a"), "=stdin")
  else
    chunk, err = loadfile(what)
  end
  if not chunk then
    io.stderr:write("h2lua: ", tostring(err), "\n")
    return 1
  end
  if check then return 0 end
  local status = 0
  local function die(what_failed, e)
    if status ~= 0 then return end
    fatal(what_failed, e)
    status = 1
    flush_logs()
    h2lua.stop()
  end
  local main = {
    _onerror = function(_, e) die("error in the main chunk: ", e) end,
  }
  sched.uncaught = function(e, where)
    -- a run the guards stopped (h2lua.limits) is logged: the guards are
    -- there so that one callback does not take the process with it
    if type(e) == "table" and STOPPED[e.code] then
      return log.error_with_stack("error in " .. (where or "callback") .. ": ", e)
    end
    die(where and ("uncaught error in " .. where .. ": ") or "uncaught error: ", e)
  end
  h2lua.handleSignals(true)
  local args = table.pack(...)
  sched.spawn(function() return chunk(table.unpack(args, 1, args.n)) end, main)
  if status == 0 then h2lua.run() end
  flush_logs()
  return status
end
