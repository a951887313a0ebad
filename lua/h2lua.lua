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
-- process is asked to stop (http2 closes servers and sessions here), and
-- with "listeners" when a worker is replaced: stop accepting, nothing more.
local hooks = {}
function M._onshutdown(fn) hooks[#hooks + 1] = fn end

-- Sessions still open, and closed connections still sending their last
-- bytes (a GOAWAY, a last response): the process waits for both, or the
-- peer would get a reset instead of them.
local function open_connections()
  local s = core.stats()
  return s.sessions + s.closing
end

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
    local left = open_connections()
    if left > 0 and core.now() < deadline then return end
    timers.clearInterval(check)
    if left > 0 then
      for _, h in ipairs(hooks) do pcall(h, false) end
    end
    core.stop()
  end, 10)
  check:unref()
end

-- How long a worker replaced on SIGHUP (h2lua --workers) lets its open
-- connections run on before the graceful shutdown (ms).
M.reloadLinger = 5000

-- The supervisor replaced this worker: the new one accepts on the same
-- sockets. Sessions carry on without a GOAWAY (a client that does not
-- retry, h2load, loses nothing) until their clients close them, then the
-- worker exits; after reloadLinger ms, what is left gets shutdown().
local function replaced()
  if shutting then return end
  for _, h in ipairs(hooks) do pcall(h, "listeners") end
  local deadline = core.now() + M.reloadLinger
  local check
  check = timers.setInterval(function()
    if shutting then return timers.clearInterval(check) end
    local left = open_connections()
    if left > 0 and core.now() < deadline then return end
    timers.clearInterval(check)
    if left > 0 then M.shutdown() else core.stop() end
  end, 10)
  check:unref()
end

-- Signals, and the supervisor's word to a worker (lcore.c): -1 replaced,
-- -2 drain, -3 stop now. The drain the supervisor asks for and a SIGTERM of the
-- worker's own (systemd signals the whole group) are one request, in
-- either order; a signal after that one ends the drain.
local supervisor_drain = false
sched.handlers[sched.EV.SIGNAL] = function(signo)
  if signo == -1 then return replaced() end
  if signo == -3 then
    if not shutting then M.shutdown() end
    return M.shutdown()
  end
  if signo == -2 then
    if shutting then return end
    supervisor_drain = true
    return M.shutdown()
  end
  if supervisor_drain then
    supervisor_drain = false
    return
  end
  if not shutting then
    -- with nothing open the program is gone at once: nothing to announce
    local n = core.stats().streams
    if n > 0 then
      require("h2lua.log").info("draining ", tostring(n), n == 1 and " stream" or " streams",
        " (signal again to stop now)")
    end
  end
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

-- h2lua.fetchClose(): closes the sessions fetch keeps (gracefully)
function M.fetchClose()
  local f = package.loaded["http2.fetch"]
  if f then f.close() end
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
  -- h2lua.tls.connect(options[, onSecureConnect]) -> a TLS client socket
  -- (h2lua/net.lua says which options)
  connect = function(options, cb) return require("h2lua.net").tls_connect(options, cb) end,
  createSecureContext = function(options)
    if type(options) ~= "table" then
      errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
    end
    return { context = require("http2.tls").context(options, true) }
  end,
}

-- h2lua.cluster: the workers of `h2lua --workers N` (Node's cluster module,
-- as far as it applies: the supervisor runs no Lua, so no fork() or events
-- in the primary). cluster.start(n) turns the program into that supervisor.
do
  local id, pid, cpus = core.worker()
  M.pid = pid
  M.cluster = {
    isWorker = id > 0,
    isPrimary = id == 0,
    worker = id > 0 and { id = id, process = { pid = pid } } or nil,
  }
  -- h2lua.cluster.start(n | "auto"): in the primary, restarts the program as
  -- `h2lua --workers n` with the same arguments (it does not return); in a
  -- worker, returns at once, so the script goes on to listen.
  function M.cluster.start(n)
    if n == "auto" then n = cpus end
    if math.type(n) ~= "integer" or n < 1 then
      errors.raise("ERR_INVALID_ARG_VALUE", "n", errors.describe(n))
    end
    if id > 0 then return end
    io.stdout:flush()
    core.cluster_start(n)
  end
end

-- h2lua._stats() -> live C objects and the liveness count (for tests)
M._stats = core.stats

return M
