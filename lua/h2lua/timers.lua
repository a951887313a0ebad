-- Timers with Node.js semantics: setTimeout/setInterval on one engine
-- timer behind a binary heap ordered by (due time, creation order), and
-- setImmediate run once per loop turn after I/O. Referenced timers keep
-- the loop alive (core.ref); unref'd ones still fire while it runs.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local core = sched.core

local M = {}
local TIMEOUT_MAX = 2 ^ 31 - 1

-- The owners of the callbacks' coroutines: they take no error, and say
-- what failed when one ends the h2lua program.
local TIMER = { _what = "a timer callback", _fatal = true }
local IMMEDIATE = { _what = "an immediate callback", _fatal = true }

local Timer = {}
Timer.__index = Timer
Timer.__name = "h2lua.Timer"

local heap, n = {}, 0
local seq = 0
local armed_for = nil

local function less(a, b)
  return a._when < b._when or (a._when == b._when and a._seq < b._seq)
end

local function up(i)
  local t = heap[i]
  while i > 1 do
    local p = i // 2
    if not less(t, heap[p]) then break end
    heap[i] = heap[p]; heap[i]._pos = i
    i = p
  end
  heap[i] = t; t._pos = i
end

local function down(i)
  local t = heap[i]
  while true do
    local c = 2 * i
    if c > n then break end
    if c < n and less(heap[c + 1], heap[c]) then c = c + 1 end
    if not less(heap[c], t) then break end
    heap[i] = heap[c]; heap[i]._pos = i
    i = c
  end
  heap[i] = t; t._pos = i
end

local function remove(t)
  local i = t._pos
  if not i then return end
  t._pos = nil
  local last = heap[n]
  heap[n] = nil
  n = n - 1
  if i <= n then
    heap[i] = last; last._pos = i
    up(i); down(last._pos)
  end
end

local function arm()
  local first = heap[1]
  if first == nil then
    if armed_for then core.timer_arm(-1) end
    armed_for = nil
    return
  end
  if armed_for ~= first._when then
    armed_for = first._when
    local d = first._when - core.now()
    core.timer_arm(d > 0 and d or 0)
  end
end

local function insert(t)
  n = n + 1
  heap[n] = t
  t._pos = n
  up(n)
end

local function coerce(ms)
  ms = tonumber(ms)
  if not ms or not (ms >= 1 and ms <= TIMEOUT_MAX) then return 1 end
  return ms
end

local function start(t, ms)
  seq = seq + 1
  t._seq = seq
  t._when = core.now() + ms
  if not t._active then
    t._active = true
    if t._ref then core.ref(1) end
  end
  insert(t)
  arm()
end

local function stop(t)
  remove(t)
  if t._active then
    t._active = false
    if t._ref then core.ref(-1) end
  end
end

local function run_timer(t)
  local args = t._args
  if args then return t._fn(table.unpack(args, 1, args.n)) end
  return t._fn()
end

-- The engine timer fired: run every timer due by now, in order.
sched.handlers[sched.EV.TIMER] = function()
  armed_for = nil
  local now = core.now()
  while n > 0 and heap[1]._when <= now do
    local t = heap[1]
    remove(t)
    if t._repeat then
      seq = seq + 1
      t._seq = seq
      t._when = now + t._repeat
      insert(t)
    else
      t._active = false
      if t._ref then core.ref(-1) end
    end
    sched.spawn(run_timer, TIMER, t)
  end
  arm()
end

local function new_timer(fn, ms, rep, ...)
  if type(fn) ~= "function" then
    errors.raise("ERR_INVALID_ARG_TYPE", "callback", "of type function", errors.describe(fn))
  end
  ms = coerce(ms)
  local t = setmetatable({ _fn = fn, _ref = true, _active = false, _ms = ms,
                           _repeat = rep and ms or nil }, Timer)
  if select("#", ...) > 0 then t._args = table.pack(...) end
  start(t, ms)
  return t
end

-- setTimeout(fn, ms, ...) -> Timer
function M.setTimeout(fn, ms, ...) return new_timer(fn, ms, false, ...) end
-- setInterval(fn, ms, ...) -> Timer
function M.setInterval(fn, ms, ...) return new_timer(fn, ms, true, ...) end

-- clearTimeout(t) / clearInterval(t): nil and non-timers are ignored.
function M.clearTimeout(t)
  if getmetatable(t) == Timer then
    stop(t)
    arm()
  end
end
M.clearInterval = M.clearTimeout

-- timer:ref() / unref() -> timer; hasRef() -> bool; refresh() -> timer
function Timer:ref()
  if not self._ref then
    self._ref = true
    if self._active then core.ref(1) end
  end
  return self
end
function Timer:unref()
  if self._ref then
    self._ref = false
    if self._active then core.ref(-1) end
  end
  return self
end
function Timer:hasRef() return self._ref end
function Timer:refresh()
  if self._active then
    remove(self)
    seq = seq + 1
    self._seq = seq
    self._when = core.now() + self._ms
    insert(self)
    arm()
  end
  return self
end
function Timer:close()
  M.clearTimeout(self)
  return self
end

-- Immediates: a FIFO; each tick runs those queued before it started.
local Immediate = {}
Immediate.__index = Immediate
Immediate.__name = "h2lua.Immediate"
local imm, ihead, itail = {}, 1, 0
local irefs = 0

function Immediate:ref()
  if not self._ref then
    self._ref = true
    if self._active then irefs = irefs + 1; core.ref(1) end
  end
  return self
end
function Immediate:unref()
  if self._ref then
    self._ref = false
    if self._active then irefs = irefs - 1; core.ref(-1) end
  end
  return self
end
function Immediate:hasRef() return self._ref end

local function run_immediate(i)
  local args = i._args
  if args then return i._fn(table.unpack(args, 1, args.n)) end
  return i._fn()
end

sched.handlers[sched.EV.TICK] = function()
  local last = itail
  while ihead <= last do
    local i = imm[ihead]
    imm[ihead] = nil
    ihead = ihead + 1
    if i._active then
      i._active = false
      if i._ref then irefs = irefs - 1; core.ref(-1) end
      sched.spawn(run_immediate, IMMEDIATE, i)
    end
  end
  if ihead > itail then
    ihead, itail = 1, 0
  else
    core.want_tick()
  end
end

-- setImmediate(fn, ...) -> Immediate
function M.setImmediate(fn, ...)
  if type(fn) ~= "function" then
    errors.raise("ERR_INVALID_ARG_TYPE", "callback", "of type function", errors.describe(fn))
  end
  local i = setmetatable({ _fn = fn, _ref = true, _active = true }, Immediate)
  if select("#", ...) > 0 then i._args = table.pack(...) end
  itail = itail + 1
  imm[itail] = i
  irefs = irefs + 1
  core.ref(1)
  core.want_tick()
  return i
end

-- clearImmediate(i)
function M.clearImmediate(i)
  if getmetatable(i) == Immediate and i._active then
    i._active = false
    if i._ref then irefs = irefs - 1; core.ref(-1) end
  end
end

-- sleep(ms): suspends the calling coroutine for ms milliseconds.
function M.sleep(ms)
  local co = sched.current("h2lua.sleep")
  local t = M.setTimeout(sched.wake, ms, co)
  local _ = t
  sched.wait()
end

M.Timer = Timer
M.Immediate = Immediate
return M
