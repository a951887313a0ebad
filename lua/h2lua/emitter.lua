-- EventEmitter with Node.js semantics (on, once, off, prependListener,
-- removeAllListeners, emit, listenerCount, listeners), plus the Lua extra
-- emitter:wait(name[, timeoutMs]). Listeners are called with the event's
-- arguments only. An 'error' emitted with no listener is raised.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"

local Emitter = {}
Emitter.__index = Emitter

local PACKED = {}  -- marks a wake carrying more than three values

-- The engine may hand a session's requests straight to a server's single
-- 'stream' listener (core.session_fast); any change to who listens to
-- 'stream' or 'request' anywhere voids that.
local listeners_changed = sched.core.listeners_changed
local function changed(name)
  if name == nil or name == "stream" or name == "request" then listeners_changed() end
end

-- The emitter's own fields, read and written raw on tables (whose classes
-- may have getters and setters) and through the object on userdata
-- (streams, whose fields the engine keeps).
local function get(self, k)
  if type(self) == "table" then return rawget(self, k) end
  return self[k]
end
local function set(self, k, v)
  if type(self) == "table" then rawset(self, k, v) else self[k] = v end
end

local function check_listener(fn)
  if type(fn) ~= "function" then
    errors.raise("ERR_INVALID_ARG_TYPE", "listener", "of type function", errors.describe(fn))
  end
end

-- Wrapped (once) listeners are callable tables; treat them as functions.
local function is_fn(v) return type(v) == "function" or (type(v) == "table" and v.listener ~= nil) end

local function add(self, name, fn, prepend)
  local evs = get(self, "_events")
  if not evs then
    evs = {}
    set(self, "_events", evs)
  end
  if evs.newListener ~= nil then self:emit("newListener", name, type(fn) == "table" and fn.listener or fn) end
  local l = evs[name]
  if l == nil then
    evs[name] = fn
  elseif is_fn(l) then
    evs[name] = prepend and { fn, l } or { l, fn }
  elseif prepend then
    table.insert(l, 1, fn)
  else
    l[#l + 1] = fn
  end
  changed(name)
  if self._onlisten then self:_onlisten(name, fn) end
  return self
end

-- emitter:on(name, fn) -> emitter
function Emitter:on(name, fn)
  check_listener(fn)
  return add(self, name, fn, false)
end
Emitter.addListener = Emitter.on

-- emitter:prependListener(name, fn) -> emitter
function Emitter:prependListener(name, fn)
  check_listener(fn)
  return add(self, name, fn, true)
end

local function once_wrap(self, name, fn)
  check_listener(fn)
  local w
  w = setmetatable({ listener = fn }, {
    __call = function(_, ...)
      self:off(name, w)
      return fn(...)
    end,
  })
  return w
end


-- emitter:once(name, fn) -> emitter
function Emitter:once(name, fn) return add(self, name, once_wrap(self, name, fn), false) end

-- emitter:prependOnceListener(name, fn) -> emitter
function Emitter:prependOnceListener(name, fn)
  return add(self, name, once_wrap(self, name, fn), true)
end

local function matches(l, fn) return l == fn or (type(l) == "table" and l.listener == fn) end

-- emitter:off(name, fn) -> emitter: removes the most recently added match
function Emitter:off(name, fn)
  local evs = get(self, "_events")
  local l = evs and evs[name]
  if not l then return self end
  if is_fn(l) then
    if matches(l, fn) then
      evs[name] = nil
      changed(name)
      if evs.removeListener ~= nil then self:emit("removeListener", name, fn) end
    end
    return self
  end
  for i = #l, 1, -1 do
    if matches(l[i], fn) then
      table.remove(l, i)
      if #l == 1 then evs[name] = l[1] elseif #l == 0 then evs[name] = nil end
      changed(name)
      if evs.removeListener ~= nil then self:emit("removeListener", name, fn) end
      break
    end
  end
  return self
end
Emitter.removeListener = Emitter.off

-- emitter:removeAllListeners([name]) -> emitter
function Emitter:removeAllListeners(name)
  local evs = get(self, "_events")
  if not evs then return self end
  changed(name)
  if name == nil then
    set(self, "_events", nil)
  else
    evs[name] = nil
  end
  return self
end

-- emitter:emit(name, ...) -> whether there were listeners
function Emitter:emit(name, ...)
  local evs = get(self, "_events")
  local l = evs and evs[name]
  if not l then
    if name == "error" then
      local err = ...
      if err == nil then err = errors.new("ERR_UNHANDLED_ERROR", "Unhandled error.") end
      -- nobody listened: the h2lua program ends with it when nobody else
      -- takes it (sched's report)
      if type(err) == "table" then sched.unhandled[err] = true end
      error(err, 0)
    end
    return false
  end
  if is_fn(l) then
    l(...)
  else
    local n = #l
    local copy = table.move(l, 1, n, 1, {})
    for i = 1, n do copy[i](...) end
  end
  return true
end

-- Emitter.emit_guarded(obj, what, name, ...) -> whether there were
-- listeners. For the lifecycle events the runtime emits before its own
-- cleanup ('close', 'error', 'aborted', ...): an error a listener raises is
-- reported on stderr with |what| emitted it, and does not propagate, so the
-- cleanup after it always runs. Listeners after the failing one are not
-- called (as with emit).
function Emitter.emit_guarded(obj, what, name, ...)
  local ok, r = xpcall(obj.emit, sched.msgh, obj, name, ...)
  if ok then return r end
  require("h2lua.log").error_with_stack("error in a '" .. tostring(name) .. "' listener of " ..
    what .. ": ", r)
  return true
end

-- emitter:listenerCount(name) -> integer
function Emitter:listenerCount(name)
  local evs = get(self, "_events")
  local l = evs and evs[name]
  if not l then return 0 end
  if is_fn(l) then return 1 end
  return #l
end

-- emitter:listeners(name) -> sequence of the listener functions
function Emitter:listeners(name)
  local evs = get(self, "_events")
  local l = evs and evs[name]
  if not l then return {} end
  if is_fn(l) then return { type(l) == "table" and l.listener or l } end
  local out = {}
  for i, f in ipairs(l) do out[i] = type(f) == "table" and f.listener or f end
  return out
end

-- emitter:eventNames() -> sequence of names with listeners
function Emitter:eventNames()
  local out = {}
  for k in pairs(get(self, "_events") or {}) do out[#out + 1] = k end
  return out
end

-- emitter:wait(name[, timeoutMs]) -> the event's arguments (true for an
-- event without any) | nil, "timeout" | nil, "closed". Suspends the
-- calling coroutine, except for a one-shot event the object already
-- emitted (its _sticky method answers for those).
function Emitter:wait(name, timeout)
  local co = sched.current("emitter:wait")
  -- one-shot events that already happened ('response', 'connect', ...)
  -- answer at once: a wait must not miss them
  if self._sticky then
    local r = table.pack(self:_sticky(name))
    if r.n > 0 and r[1] ~= nil then return table.unpack(r, 1, r.n) end
  end
  if self._waitclosed and self:_waitclosed(name) then return nil, "closed" end
  local done, timer = false, nil
  local waiters = get(self, "_waiters")
  if not waiters then
    waiters = {}
    set(self, "_waiters", waiters)
  end
  local on
  local function finish(...)
    if done then return end
    done = true
    self:off(name, on)
    waiters[co] = nil
    if timer then require("h2lua.timers").clearTimeout(timer) end
    sched.wake(co, ...)
  end
  on = function(...)
    local n = select("#", ...)
    if n == 0 then return finish(true) end -- an event without arguments
    if n <= 3 then return finish(...) end
    return finish(PACKED, table.pack(...))
  end
  waiters[co] = function() finish(nil, "closed") end
  self:on(name, on)
  if timeout then
    timer = require("h2lua.timers").setTimeout(function() finish(nil, "timeout") end, timeout)
  end
  local a, b, c = sched.wait()
  if a == PACKED then return table.unpack(b, 1, b.n) end
  return a, b, c
end

-- Ends every wait on this emitter with nil, "closed" (objects call it when
-- they close, after their 'close' event).
function Emitter:_closewaiters()
  local waiters = get(self, "_waiters")
  if not waiters then return end
  set(self, "_waiters", nil)
  for _, cancel in pairs(waiters) do cancel() end
end

-- Emitter.new([t]) -> a plain emitter; Emitter.extend(class) makes a class
-- inherit the emitter methods.
function Emitter.new(t) return setmetatable(t or {}, Emitter) end
function Emitter.extend(class)
  for k, v in pairs(Emitter) do
    if class[k] == nil and k ~= "__index" and k ~= "new" and k ~= "extend" then class[k] = v end
  end
  return class
end

return Emitter
