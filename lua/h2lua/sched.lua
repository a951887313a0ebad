-- The scheduler: every callback the runtime runs goes through a coroutine
-- from the engine's pool (core.spawn), so handler code may wait. Waiting
-- functions yield with wait(); whatever ends the wait queues the coroutine
-- with wake(), and the engine drains that queue after each event it
-- delivers, never from inside a Lua -> C call.
local core = require "h2lua_core"

local yield, running, isyieldable = coroutine.yield, coroutine.running,
  coroutine.isyieldable
local traceback = debug.traceback
local cspawn, cresume, wakes = core.spawn, core.resume, core.wakes

local M = {}
local handlers = {}   -- engine event number (core.EV) -> function
M.handlers = handlers
M.EV = core.EV

local DONE = core.DONE  -- what a worker yields when its callback returned
local ours = core.OURS  -- the coroutines the engine made (weak keys)

-- Errors raised for an 'error' event nobody listened to (the emitter
-- marks them).
M.unhandled = setmetatable({}, { __mode = "k" })

-- Error reporting: owners may take the error (a stream answers 500; it
-- gets the dead coroutine |co| too, to say which request failed). With
-- no owner, a timer's callback's error (owner._fatal) and an 'error' event
-- nobody listened to go to M.uncaught when set: the h2lua program ends
-- with them, as Node.js does. Others are logged.
local function report(owner, err, co)
  local log = require "h2lua.log"
  if owner and owner._onerror then
    local ok, e2 = pcall(owner._onerror, owner, err, co)
    if ok then return end
    err = log.describe(err) .. "\n(and the error policy failed: " .. log.describe(e2) .. ")"
  elseif M.uncaught and ((owner and owner._fatal) or M.unhandled[err]) then
    return M.uncaught(err, owner and owner._what)
  end
  log.error_with_stack("error in callback: ", err)
end
M.report = report

local function msgh(e)
  if type(e) == "table" then
    if e.stack == nil then pcall(function() e.stack = traceback("", 2) end) end
    return e
  end
  return traceback(tostring(e), 2)
end

-- A callback raised in coroutine |co| (dead, its stack kept): the
-- traceback is taken from it, then the owner's error policy runs. A
-- memory error (|memerr|; |co| is nil, closed to free what it held)
-- becomes ERR_H2LUA_MEMORY.
local function failed(owner, err, co, memerr)
  if memerr then
    local limit = core.limits().maxMemory
    err = require("h2lua.errors").new("ERR_H2LUA_MEMORY", tostring(err) ..
      (limit > 0 and (" (the Lua state's limit is " .. limit .. " bytes)") or ""))
  end
  if co == nil then -- closed already (a memory error): no traceback
  elseif type(err) == "table" then
    if err.stack == nil then pcall(function() err.stack = traceback(co, "", 0) end) end
  else
    err = traceback(co, tostring(err), 0)
  end
  report(owner, err, co)
end

-- sched.spawn(fn, owner, ...): runs fn(...) now, in a coroutine of its
-- own; returns when fn returns or first waits. Errors go to owner._onerror.
M.spawn = cspawn

-- The wake queue: coroutines to resume (or functions to spawn) after the
-- current event, with up to three values each.
local q_co, q_a, q_b, q_c = {}, {}, {}, {}
local qhead, qtail = 1, 0

local function drain()
  while qhead <= qtail do
    local i = qhead
    local co, a, b, c = q_co[i], q_a[i], q_b[i], q_c[i]
    q_co[i], q_a[i], q_b[i], q_c[i] = nil, nil, nil, nil
    qhead = i + 1
    if type(co) == "function" then
      cspawn(co, nil, a, b, c)
    else
      cresume(co, a, b, c)
    end
  end
  qhead, qtail = 1, 0
end
M.drain = drain

-- sched.wake(co, a, b, c): resume the waiting coroutine after this event.
function M.wake(co, a, b, c)
  if qtail < qhead then wakes() end
  qtail = qtail + 1
  q_co[qtail], q_a[qtail], q_b[qtail], q_c[qtail] = co, a, b, c
end

-- sched.defer(fn, a, b, c): run fn in a fresh coroutine after this event
-- (Node's process.nextTick).
M.defer = M.wake

-- sched.current(what) -> the running coroutine, or raises a clear error
-- when |what| cannot wait here.
function M.current(what)
  local co, main = running()
  if main or not isyieldable() or not ours[co] then
    local where = main and "the main thread (use h2lua.run or the h2lua program)"
      or not ours[co] and "a coroutine h2lua does not run"
      or "a place that cannot yield (a metamethod, table.sort, gsub or a finalizer)"
    error(setmetatable({ code = "ERR_H2LUA_NOT_WAITABLE", name = "Error",
      message = (what or "this call") .. " waits, and cannot be called from " .. where },
      require("h2lua.errors").Error), 3)
  end
  return co
end

-- sched.waitable() -> whether the running code may wait.
function M.waitable()
  local co, main = running()
  return not main and isyieldable() and ours[co] == true
end

-- sched.wait() -> the values given to wake(). Call current() first.
function M.wait()
  return yield()
end

-- The dispatcher the engine calls for every event without a fast path.
local function on_core(ev, a, b, c, d, e, f, g, h1, i)
  local h = handlers[ev]
  if h then return h(a, b, c, d, e, f, g, h1, i) end -- SESSION has 9
end

-- The error a run the guards stop raises (|why|: 1 the CPU budget of
-- |budget| ms, 2 a signal).
local function stopped(why, budget)
  local errors = require "h2lua.errors"
  if why == 1 then return errors.new("ERR_H2LUA_CPU_BUDGET", math.floor(budget)) end
  return errors.new("ERR_H2LUA_INTERRUPTED")
end

core.init { dispatch = on_core, traceback = msgh, drain = drain, failed = failed,
  stopped = stopped }
M.core = core
M.on_core = on_core
M.DONE = DONE
M.msgh = msgh
return M
