-- The scheduler: every callback the runtime runs goes through spawn(), in a
-- coroutine taken from a pool, so handler code may wait. Waiting functions
-- yield with wait(); whatever ends the wait queues the coroutine with
-- wake(), and the queue is drained after each event the engine delivers,
-- never from inside a Lua -> C call.
local core = require "h2lua_core"

local create, resume, yield, running, isyieldable =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.running,
  coroutine.isyieldable
local traceback = debug.traceback

local M = {}
local handlers = {}   -- engine event number -> function
M.handlers = handlers

local DONE = {}       -- what a worker yields when its callback returned
local pool, npool = {}, 0
local POOL_MAX = 256
local ours = setmetatable({}, { __mode = "k" })  -- coroutines we run

-- Error reporting: owners may take the error (a stream answers 500).
local function report(owner, err)
  if owner and owner._onerror then
    local ok, e2 = pcall(owner._onerror, owner, err)
    if ok then return end
    err = tostring(err) .. "\n(and the error policy failed: " .. tostring(e2) .. ")"
  end
  io.stderr:write("h2lua: error in callback: ", tostring(err), "\n")
  if type(err) == "table" and err.stack then io.stderr:write(err.stack, "\n") end
end
M.report = report

local function msgh(e)
  if type(e) == "table" then
    if e.stack == nil then pcall(function() e.stack = traceback("", 2) end) end
    return e
  end
  return traceback(tostring(e), 2)
end

local function worker(fn, owner, a, b, c, d, e)
  while true do
    local ok, err = xpcall(fn, msgh, a, b, c, d, e)
    if not ok then report(owner, err) end
    fn, owner, a, b, c, d, e = yield(DONE)
  end
end

-- Puts a coroutine back in the pool once its callback returned.
local function settle(co, ok, r)
  if not ok then
    -- only an error outside xpcall (the worker itself) lands here
    io.stderr:write("h2lua: scheduler error: ", tostring(r), "\n")
    ours[co] = nil
  elseif r == DONE and npool < POOL_MAX then
    npool = npool + 1
    pool[npool] = co
  end
end

-- sched.spawn(fn, owner, a..e): runs fn(a..e) now, in a coroutine of its
-- own; returns when fn returns or first waits. Errors go to owner._onerror.
function M.spawn(fn, owner, a, b, c, d, e)
  local co
  if npool > 0 then
    co = pool[npool]
    pool[npool] = nil
    npool = npool - 1
  else
    co = create(worker)
    ours[co] = true
  end
  settle(co, resume(co, fn, owner, a, b, c, d, e))
end

-- The run queue: coroutines to resume (or functions to spawn) after the
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
      M.spawn(co, nil, a, b, c)
    else
      settle(co, resume(co, a, b, c))
    end
  end
  qhead, qtail = 1, 0
end
M.drain = drain

-- sched.wake(co, a, b, c): resume the waiting coroutine after this event.
local dispatching = false

function M.wake(co, a, b, c)
  -- outside a delivery nobody drains the queue: ask the loop for a turn
  if qtail < qhead and not dispatching then core.want_tick() end
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

-- The dispatcher the engine calls for every event.
local function on_core(ev, a, b, c, d, e, f, g)
  dispatching = true
  local h = handlers[ev]
  local r = h and h(a, b, c, d, e, f, g)
  if qhead <= qtail then drain() end
  dispatching = false
  return r
end

core.init(on_core, msgh, {}, {}, {})  -- replaced by http2 with the real tables
M.core = core
M.on_core = on_core
M.DONE = DONE
M.msgh = msgh
return M
