-- The runtime module: the event loop (run, stop), timers, sleep, and the
-- graceful shutdown that SIGINT/SIGTERM start. Node.js gives these as
-- globals; here they are require "h2lua".
local sched = require "h2lua.sched"
local timers = require "h2lua.timers"
local errors = require "h2lua.errors"
local core = sched.core

local M = {}

M.setTimeout = timers.setTimeout
M.setInterval = timers.setInterval
M.setImmediate = timers.setImmediate
M.clearTimeout = timers.clearTimeout
M.clearInterval = timers.clearInterval
M.clearImmediate = timers.clearImmediate
M.sleep = timers.sleep
M.Timer = timers.Timer
M.errors = errors
M.PerformanceObserver = require("h2lua.perf").PerformanceObserver

-- How long a graceful shutdown lets in-flight streams run (ms).
M.drainTimeout = 10000

-- h2lua.run(): runs the loop until nothing referenced is left or stop().
function M.run()
  core.run()
end

-- h2lua.stop(): the loop returns after the current turn.
function M.stop()
  core.stop()
end

-- h2lua.spawn(fn, ...): runs fn in a coroutine of the runtime's, so it may
-- wait (sleep, read, emitter:wait).
function M.spawn(fn, ...)
  if type(fn) ~= "function" then
    errors.raise("ERR_INVALID_ARG_TYPE", "fn", "of type function", errors.describe(fn))
  end
  sched.spawn(fn, nil, ...)
end

-- h2lua.now() -> milliseconds of a monotonic clock
M.now = core.now

-- Shutdown hooks: each gets called once with a "graceful" flag when the
-- process is asked to stop (http2 closes servers and sessions here).
local hooks = {}
function M._onshutdown(fn) hooks[#hooks + 1] = fn end

local shutting = false
-- h2lua.shutdown(): what SIGINT/SIGTERM do: stop accepting, GOAWAY every
-- session, let open streams finish for drainTimeout ms, end what is left,
-- and stop the loop (timers and other things still referenced do not keep
-- the process up). A second call ends the drain at once.
function M.shutdown()
  if shutting then
    for _, h in ipairs(hooks) do pcall(h, false) end
    core.stop()
    return
  end
  shutting = true
  for _, h in ipairs(hooks) do
    local ok, err = pcall(h, true)
    if not ok then io.stderr:write("h2lua: shutdown hook: ", tostring(err), "\n") end
  end
  local deadline = core.now() + M.drainTimeout
  local check
  check = timers.setInterval(function()
    local left = core.stats().sessions
    if left > 0 and core.now() < deadline then return end
    timers.clearInterval(check)
    if left > 0 then
      for _, h in ipairs(hooks) do pcall(h, false) end
    end
    core.stop()
  end, 10)
  check:unref()
end

sched.handlers[sched.EV.SIGNAL] = function(signo)
  M.shutdown()
end

-- h2lua.handleSignals(on): whether SIGINT/SIGTERM start shutdown() (the
-- h2lua program turns this on).
function M.handleSignals(on)
  core.signals(on ~= false)
end

-- h2lua.limits([{cpuBudget=ms, maxMemory=bytes}]) -> {cpuBudget=,
-- maxMemory=, memoryUsed=}: the guards on the Lua code the loop runs
-- (docs/api.md); sets those given (0 turns one off), returns them all.
function M.limits(t)
  if t ~= nil and type(t) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "limits", "of type table", errors.describe(t))
  end
  for _, k in ipairs({ "cpuBudget", "maxMemory" }) do
    local v = t and t[k]
    if v ~= nil and (type(v) ~= "number" or v ~= v or v < 0) then
      errors.raise("ERR_INVALID_ARG_TYPE", "limits." .. k, "a number >= 0", errors.describe(v))
    end
  end
  return core.limits(t)
end

-- h2lua.fetch(url[, options]) -> status, headers, body | nil, err
function M.fetch(url, opts)
  return require("http2.fetch").fetch(url, opts)
end

-- h2lua.net: TCP sockets (net.connect, net.createServer)
M.net = setmetatable({}, { __index = function(t, k)
  local net = require "h2lua.net"
  setmetatable(t, { __index = net })
  return net[k]
end })

-- h2lua.tls.createSecureContext(options) -> {context=} for SNICallback
-- (Node's tls.createSecureContext: key, cert, ca, passphrase, ciphers,
-- minVersion, maxVersion).
M.tls = {
  createSecureContext = function(options)
    if type(options) ~= "table" then
      errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
    end
    return { context = require("http2.tls").context(options, true) }
  end,
}

-- h2lua._stats() -> live C objects and the liveness count (for tests)
M._stats = core.stats

return M
