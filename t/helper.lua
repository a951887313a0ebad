-- Test helpers: run a test body inside the h2lua loop (in a coroutine, with
-- a watchdog), run external clients without blocking the loop, start the
-- h2lua program, and small utilities. Every wait here is bounded.
local h2lua = require "h2lua"
local http2 = require "http2"

local H = {}

H.BIN = os.getenv("H2LUA_BIN") or "./h2lua"
H.PY = "/usr/bin/python3"   -- Debian's python, which has python3-h2
H.CLIENTS = "t/clients"

local function readfile(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
H.readfile = readfile

local function writefile(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end
H.writefile = writefile

-- Specs name their files os.tmpname() .. ".lua" (".pki", ...), which
-- leaves the empty file os.tmpname made: those still empty when the
-- suite's Lua state closes are removed then (one wrapper, however often
-- busted reloads this module).
if not os.h2lua_tmpnames then
  local made, tmpname = {}, os.tmpname
  os.h2lua_tmpnames = setmetatable(made, { __gc = function()
    for _, name in ipairs(made) do
      local f = io.open(name, "rb")
      if f then
        local data, err = f:read(1)
        f:close()
        if data == nil and err == nil then os.remove(name) end -- an empty file
      end
    end
  end })
  os.tmpname = function()
    local name = tmpname()
    made[#made + 1] = name
    return name
  end
end

function H.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- Closes every server and session still open (end of a test).
function H.cleanup()
  for server in pairs(http2.Http2Server.live) do
    if server.listening then server:close(function() end) end
  end
  for session in pairs(http2.Http2Session.live) do session:destroy() end
  local net = package.loaded["h2lua.net"]
  if net then
    for server in pairs(net.live_servers) do server:close() end
    for sock in pairs(net.live_sockets) do sock:destroy() end
  end
end

local pids = {}

-- H.run(fn[, timeoutMs]): runs fn in a runtime coroutine and the loop
-- until fn returns; raises fn's error, or a timeout.
function H.run(fn, timeout)
  timeout = timeout or 30000
  local done, failure = false, nil
  h2lua.spawn(function()
    local ok, e = xpcall(fn, function(e)
      if type(e) == "table" then return e end
      return debug.traceback(tostring(e), 2)
    end)
    if not ok then failure = e end
    done = true
    H.cleanup()
  end)
  local wd = h2lua.setTimeout(function()
    if not done then
      failure = "test timed out after " .. timeout .. " ms"
      H.cleanup()
      h2lua.stop()
    end
  end, timeout)
  wd:unref()
  h2lua.run()
  h2lua.clearTimeout(wd)
  for pid in pairs(pids) do os.execute("kill -9 " .. pid .. " 2>/dev/null") end
  pids = {}
  if not done and failure == nil then
    failure = "the loop went idle before the test finished (a wait that nothing can end)"
  end
  if failure ~= nil then error(failure, 0) end
end

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
H.shq = shq

-- H.sh(cmd[, timeoutSec]) -> rc, stdout, stderr. Runs |cmd| in the
-- background and waits for it while the loop runs (call inside H.run).
function H.sh(cmd, timeout)
  timeout = timeout or 60
  local base = os.tmpname()
  os.execute(string.format(
    "(timeout -k 2 %d sh -c %s > %s.out 2> %s.err; echo $? > %s.rct; mv %s.rct %s.rc) >/dev/null 2>&1 & echo $! > %s.pid",
    timeout, shq(cmd), base, base, base, base, base, base))
  local pid = tonumber(readfile(base .. ".pid") or "")
  if pid then pids[pid] = true end
  local deadline = h2lua.now() + (timeout + 5) * 1000
  while not H.exists(base .. ".rc") and h2lua.now() < deadline do
    h2lua.sleep(5)
  end
  if pid then pids[pid] = nil end
  local rc = tonumber(readfile(base .. ".rc") or "") or -1
  local out, err = readfile(base .. ".out") or "", readfile(base .. ".err") or ""
  for _, ext in ipairs({ "", ".out", ".err", ".rc", ".pid" }) do os.remove(base .. ext) end
  return rc, out, err
end

-- H.wait_until(pred, timeoutMs) -> whether pred() became true in time;
-- polls every 5 ms while the loop runs (call inside H.run).
function H.wait_until(pred, timeout)
  local deadline = h2lua.now() + (timeout or 1000)
  while not pred() do
    if h2lua.now() >= deadline then return false end
    h2lua.sleep(5)
  end
  return true
end

-- H.listen(server) -> port: listens on an ephemeral port of 127.0.0.1 and
-- waits for 'listening'.
function H.listen(server)
  server:listen(0, "127.0.0.1")
  local ok, err = server:wait("listening", 5000)
  assert(ok ~= nil or err == nil, "server did not start listening: " .. tostring(err))
  return server:address().port
end

-- H.start_listening(cmd) -> port, stop: a background peer that prints
-- "listening PORT" (Node.js fixtures, python servers). Call inside H.run.
function H.start_listening(cmd)
  local out = os.tmpname()
  os.execute(string.format("(%s > %s 2>&1 & echo $! > %s.pid) ", cmd, out, out))
  local pid = tonumber(readfile(out .. ".pid") or "")
  local port
  H.wait_until(function()
    port = (readfile(out) or ""):match("listening (%d+)")
    return port
  end, 4000)
  return tonumber(port), function()
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    os.remove(out)
    os.remove(out .. ".pid")
  end
end

-- H.nghttpd(files, args) -> port, stop: nghttpd serving |files| (name ->
-- content) with extra |args| (e.g. "--no-tls", or key and cert paths
-- after the port: args may hold "%d" for the port). Waits until it
-- accepts connections. Call inside H.run.
function H.nghttpd(files, args)
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  for name, content in pairs(files) do writefile(dir .. "/" .. name, content) end
  -- a port the kernel just gave out, then free again
  local probe = h2lua.net.createServer()
  probe:listen(0, "127.0.0.1")
  local port = probe:address().port
  probe:close()
  os.execute(string.format("nghttpd -d %s %s >/dev/null 2>&1 & echo $! > %s.pid",
    dir, args:format(port), dir))
  local pid = tonumber(readfile(dir .. ".pid") or "")
  H.wait_until(function()
    -- /dev/tcp is bash's, not dash's (/bin/sh)
    return os.execute("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. port .. "' 2>/dev/null") == true
  end, 4000)
  return port, function()
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    os.execute("rm -rf " .. dir .. " " .. dir .. ".pid")
  end
end

-- H.sha256(data) -> hex digest (sha256sum)
function H.sha256(data)
  local path = os.tmpname()
  writefile(path, data)
  local p = io.popen("sha256sum " .. path)
  local out = p:read("a")
  p:close()
  os.remove(path)
  return out:match("^(%x+)")
end

-- H.bytes(n[, seed]) -> n pseudo-random bytes (deterministic)
function H.bytes(n, seed)
  local parts, x = {}, seed or 12345
  local chunk = {}
  for i = 1, 4096 do
    x = (x * 1103515245 + 12345) % 2147483648
    chunk[i] = string.char(x % 256)
  end
  local block = table.concat(chunk)
  local full = n // #block
  for i = 1, full do parts[i] = block end
  parts[#parts + 1] = block:sub(1, n - full * #block)
  return table.concat(parts)
end

-- External program tests (no loop running): start, read output, stop.
-- The program's own PID is recorded (signals reach it), and its exit
-- status lands in base.rc. |prefix| goes before the program (env, valgrind).
function H.start(script, args, prefix)
  local base = os.tmpname()
  os.execute(string.format(
    "(%s %s %s %s > %s.out 2> %s.err & echo $! > %s.pid; wait $!; echo $? > %s.rc) >/dev/null 2>&1 &",
    prefix or "", H.BIN, script and shq(script) or "", args or "", base, base, base, base))
  local pid
  for _ = 1, 250 do
    pid = tonumber(readfile(base .. ".pid") or "")
    if pid then break end
    os.execute("sleep 0.02")
  end
  return { pid = pid, base = base }
end

-- H.wait_output(proc, pattern[, timeoutSec]) -> the first capture of
-- |pattern| in the program's stdout, or nil on timeout.
function H.wait_output(proc, pattern, timeout)
  local tries = math.floor((timeout or 10) * 50)
  for _ = 1, tries do
    local out = readfile(proc.base .. ".out") or ""
    local m = out:match(pattern)
    if m then return m end
    os.execute("sleep 0.02")
  end
  return nil
end

function H.running(proc)
  return os.execute("kill -0 " .. proc.pid .. " 2>/dev/null") == true
end

-- H.wait_exit(proc[, timeoutSec]) -> whether it exited in time
function H.wait_exit(proc, timeout)
  local tries = math.floor((timeout or 10) * 50)
  for _ = 1, tries do
    if not H.running(proc) then return true end
    os.execute("sleep 0.02")
  end
  return false
end

-- H.status(proc[, timeoutSec]) -> the program's exit status, nil on timeout
function H.status(proc, timeout)
  for _ = 1, math.floor((timeout or 10) * 50) do
    local rc = readfile(proc.base .. ".rc")
    if rc and rc:match("%d") then return tonumber(rc) end
    os.execute("sleep 0.02")
  end
  return nil
end

function H.stop(proc)
  os.execute("kill -9 " .. proc.pid .. " 2>/dev/null; pkill -9 -P " .. proc.pid .. " 2>/dev/null")
  local out, err = readfile(proc.base .. ".out") or "", readfile(proc.base .. ".err") or ""
  for _, ext in ipairs({ "", ".out", ".err", ".pid", ".rc" }) do os.remove(proc.base .. ext) end
  return out, err
end

-- H.code_of(fn, ...) -> the code of the error fn raises ("no error" when
-- it returns; the message when the error is not a table)
function H.code_of(f, ...)
  local ok, e = pcall(f, ...)
  if ok then return "no error" end
  return type(e) == "table" and e.code or tostring(e)
end

-- H.raw(port, actions[, timeout]) -> rc, out, err of t/clients/h2raw.py
-- sending |actions| (its little language) to 127.0.0.1:port.
function H.raw(port, actions, timeout)
  return H.sh(H.PY .. " " .. H.CLIENTS .. "/h2raw.py " .. port .. " " .. shq(actions), timeout or 20)
end

-- H.url(port) -> the h2c URL of 127.0.0.1:port
function H.url(port) return "http://127.0.0.1:" .. port end

-- H.exec(cmdline) -> its output (stdout and stderr), its exit status as
-- a string: for programs run to their end, outside any loop.
function H.exec(cmdline)
  local p = io.popen(cmdline .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  return out:match("^(.*)rc=(%d+)\n$")
end

-- H.script(text) -> the path of a new temporary .lua file holding |text|
function H.script(text)
  local path = os.tmpname() .. ".lua"
  H.writefile(path, text)
  return path
end

-- One raw HTTP/2 frame (RFC 9113 4.1), and the client's preface.
function H.frame(ftype, flags, id, payload)
  return string.pack(">I3BBI4", #payload, ftype, flags, id) .. payload
end
H.PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

-- H.serve([options[, fn]]) -> server, port: an h2c server listening on a
-- free port whose 'stream' is |fn|, by default a 200 with body "ok".
function H.serve(options, fn)
  local http2 = require "http2"
  local server = http2.createServer(options)
  server:on("stream", fn or function(st) st:respond() st:finish("ok") end)
  return server, H.listen(server)
end

-- H.connect(port[, options]) -> a client session to H.url(port)
function H.connect(port, options)
  return require("http2").connect(H.url(port), options)
end

-- H.raised(fn, ...) -> nil when fn returns, else the error's code (or
-- message) and the error itself
function H.raised(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then return nil end
  return type(err) == "table" and err.code or tostring(err), err
end

-- H.first_session(server) -> a function that waits (5 s at most) for the
-- first session |server| accepts from now on and returns it
function H.first_session(server)
  local got
  server:once("session", function(s) got = s end)
  return function()
    assert(H.wait_until(function() return got end, 5000), "no session")
    return got
  end
end

-- H.pki() -> a test CA with server and client certificates made by
-- t/clients/mkcerts.py in a temporary directory: pki.dir, pki.make() and
-- pki.remove() (for setup/teardown), pki.pem(name), pki.key(name).
function H.pki()
  local dir = os.tmpname() .. ".pki"
  return {
    dir = dir,
    make = function()
      assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. dir .. " >/dev/null"))
    end,
    remove = function() os.execute("rm -rf " .. shq(dir)) end,
    pem = function(name) return readfile(dir .. "/" .. name .. ".pem") end,
    key = function(name) return readfile(dir .. "/" .. name .. "-key.pem") end,
  }
end

-- H.leaks() -> nil when no engine object is left, else a description.
function H.leaks()
  collectgarbage()
  collectgarbage()
  local s = h2lua._stats()
  if s.sessions ~= 0 or s.streams ~= 0 or s.servers ~= 0 then
    return string.format("left alive: %d servers, %d sessions, %d streams",
      s.servers, s.sessions, s.streams)
  end
  return nil
end

-- The valgrind prefix for H.start or a shell line; %s is the log file.
-- H2LUA_ALLOC=libc: every Lua block from malloc, so valgrind sees each one.
H.VALGRIND = "H2LUA_ALLOC=libc valgrind --error-exitcode=99 --leak-check=full " ..
  "--errors-for-leak-kinds=definite,indirect --log-file=%s"

-- H.assert_valgrind_clean(report): no error, nothing definitely or indirectly lost.
function H.assert_valgrind_clean(report)
  local assert = require "luassert"
  assert.truthy(report:find("ERROR SUMMARY: 0 errors", 1, true), report)
  assert.falsy(report:find("definitely lost: [1-9]"), report)
  assert.falsy(report:find("indirectly lost: [1-9]"), report)
end

return H
