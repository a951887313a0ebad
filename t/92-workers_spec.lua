-- h2lua --workers N: a supervisor, worker processes sharing the port,
-- restarts, the rolling SIGHUP reload and the SIGTERM drain, against real
-- processes (curl, h2load); and the listen option reusePort.
local H = require "helper"

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end

local function sleep(s) os.execute("sleep " .. s) end

-- The app: answers with its worker's pid, id and version; /slow after
-- 400 ms, /delay after 20 (h2load's run then lasts seconds whatever the
-- CPU). VERSION is rewritten before a reload.
local APP = [[
local http2 = require "http2"
local h2lua = require "h2lua"
local VERSION = "%s"
h2lua.reloadLinger = 30000
local server = http2.createServer()
server:on("stream", function(stream, headers)
  local function answer()
    stream:respond({ [":status"] = 200, ["x-worker-pid"] = tostring(h2lua.pid),
      ["x-worker-id"] = tostring(h2lua.cluster.worker and h2lua.cluster.worker.id),
      ["x-version"] = VERSION })
    stream:finish("hello " .. VERSION)
  end
  if headers[":path"] == "/slow" then
    print("got /slow")
    io.stdout:flush()
    h2lua.setTimeout(answer, 400)
  elseif headers[":path"] == "/delay" then
    h2lua.setTimeout(answer, 20)
  else
    answer()
  end
end)
server:listen(%s, "127.0.0.1", function()
  print("listening " .. server:address().port)
  io.stdout:flush()
end)
]]

local function app(version, port)
  local path = os.tmpname() .. ".lua"
  H.writefile(path, APP:format(version, port or 0))
  return path
end

-- the worker pids: the supervisor's children
local function children(pid)
  local t = {}
  for p in sh("ps -o pid= --ppid " .. pid):gmatch("%d+") do t[#t + 1] = tonumber(p) end
  table.sort(t)
  return t
end

local function wait_for(pred, secs)
  for _ = 1, math.floor((secs or 10) * 50) do
    if pred() then return true end
    sleep(0.02)
  end
  return false
end

-- |n| requests, each on its own connection: the set of worker pids seen
-- and the responses that were not 200 "hello VERSION".
local function ask(port, n, version)
  local out = sh(string.format(
    "for i in $(seq %d); do curl -s -m 5 --http2-prior-knowledge -D - http://127.0.0.1:%d/; echo; done",
    n, port))
  local pids, bad, count = {}, 0, 0
  for status, pid, body in out:gmatch("HTTP/2 (%d+).-x%-worker%-pid: (%d+).-\r\n\r\n(hello %S+)") do
    count = count + 1
    pids[tonumber(pid)] = true
    if status ~= "200" or (version and body ~= "hello " .. version) then bad = bad + 1 end
  end
  return pids, bad + (n - count)
end

local function count(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

local function workers(path, n)
  local base = os.tmpname()
  os.execute(string.format(
    "(%s --workers %s %s > %s.out 2> %s.err & echo $! > %s.pid; wait $!; echo $? > %s.rc) >/dev/null 2>&1 &",
    H.BIN, n, H.shq(path), base, base, base, base))
  local proc = { base = base }
  assert(wait_for(function()
    proc.pid = tonumber(H.readfile(base .. ".pid") or "")
    return proc.pid
  end, 5))
  local port
  assert(wait_for(function()
    local out = H.readfile(base .. ".out") or ""
    local seen = 0
    for p in out:gmatch("listening (%d+)") do
      port = tonumber(p)
      seen = seen + 1
    end
    return seen >= (tonumber(n) or 2)
  end, 20), "the workers did not start: " .. (H.readfile(base .. ".err") or ""))
  proc.port = port
  return proc
end

local function stop(proc)
  local kids = children(proc.pid)
  os.execute("kill -9 " .. proc.pid .. " 2>/dev/null")
  for _, k in ipairs(kids) do os.execute("kill -9 " .. k .. " 2>/dev/null") end
  local err = H.readfile(proc.base .. ".err") or ""
  for _, ext in ipairs({ "", ".out", ".err", ".pid", ".rc" }) do os.remove(proc.base .. ext) end
  return err
end

describe("h2lua --workers", function()
  it("two workers both answer on one port (the pid header shows both)", function()
    local path = app("1")
    local proc = workers(path, 2)
    local ok, e = pcall(function()
      local kids = children(proc.pid)
      assert.equal(2, #kids)
      local seen, bad = {}, 0
      -- connections spread by the kernel: ask until both answered (bounded)
      for _ = 1, 10 do
        local pids, b = ask(proc.port, 10)
        bad = bad + b
        for p in pairs(pids) do seen[p] = true end
        if count(seen) == 2 then break end
      end
      assert.equal(0, bad)
      assert.same({ [kids[1]] = true, [kids[2]] = true }, seen)
    end)
    stop(proc)
    os.remove(path)
    assert(ok, e)
  end)

  it("a killed worker is restarted, with a log line saying why it died", function()
    local path = app("1")
    local proc = workers(path, 2)
    local ok, e = pcall(function()
      local kids = children(proc.pid)
      assert.equal(2, #kids)
      os.execute("kill -9 " .. kids[1])
      local now
      assert.truthy(wait_for(function()
        now = children(proc.pid)
        return #now == 2 and now[1] ~= kids[1] and now[2] ~= kids[1]
      end, 10), "no new worker")
      local fresh = now[1] == kids[2] and now[2] or now[1]
      local err = H.readfile(proc.base .. ".err") or ""
      assert.truthy(err:find("worker %d %(pid " .. kids[1] .. "%) was killed by signal 9"), err)
      assert.truthy(wait_for(function()
        local pids = ask(proc.port, 4)
        return pids[fresh]
      end, 10), "the new worker does not answer")
    end)
    stop(proc)
    os.remove(path)
    assert(ok, e)
  end)

  it("SIGHUP under h2load load: 0 failed requests, new connections all answered, then the new code serves", function()
    local path = app("1")
    local proc = workers(path, 2)
    local out = os.tmpname()
    local ok, e = pcall(function()
      local old = children(proc.pid)
      assert.equal(2, #old)
      os.execute(string.format(
        "(timeout 120 h2load -n 30000 -c 20 -m 10 -t 1 http://127.0.0.1:%d/delay > %s 2>&1; echo H2LOAD-END >> %s) &",
        proc.port, out, out))
      -- requests on new connections all through the reload, 4 at a time
      os.execute(string.format(
        "((for j in 1 2 3 4; do (for i in $(seq 40); do curl -s -m 5 --http2-prior-knowledge -o /dev/null -w '%%{http_code}\\n' http://127.0.0.1:%d/; done) & done; wait) > %s.curl; echo end >> %s.curl) &",
        proc.port, out, out))
      assert.truthy(wait_for(function()
        return (H.readfile(out) or ""):find("progress: 10%% done")
      end, 60), "h2load did not get going: " .. (H.readfile(out) or ""))
      H.writefile(path, APP:format("2", 0))
      os.execute("kill -HUP " .. proc.pid)
      -- both replaced while h2load still runs on the old ones' connections
      assert.truthy(wait_for(function()
        local fresh = 0
        for _, p in ipairs(children(proc.pid)) do
          if p ~= old[1] and p ~= old[2] then fresh = fresh + 1 end
        end
        return fresh == 2
      end, 30), "the replacements did not start")
      assert.falsy((H.readfile(out) or ""):find("H2LOAD-END", 1, true),
        "h2load ended before the reload: the test proves nothing")
      assert.truthy(wait_for(function() return (H.readfile(out) or ""):find("H2LOAD-END", 1, true) end, 120))
      local report = H.readfile(out)
      assert.truthy(report:find("30000 succeeded, 0 failed, 0 errored", 1, true), report)
      assert.truthy(wait_for(function() return (H.readfile(out .. ".curl") or ""):find("end") end, 120))
      local codes = H.readfile(out .. ".curl")
      local n200 = select(2, codes:gsub("200\n", ""))
      assert.equal(160, n200, codes)
      -- the old workers leave once h2load closed its connections
      local now
      assert.truthy(wait_for(function()
        now = children(proc.pid)
        return #now == 2
      end, 30))
      for _, p in ipairs(now) do
        assert.falsy(p == old[1] or p == old[2])
      end
      local seen, bad = {}, 0
      for _ = 1, 10 do
        local pids, b = ask(proc.port, 10, "2")
        bad = bad + b
        for p in pairs(pids) do seen[p] = true end
        if count(seen) == 2 then break end
      end
      assert.equal(0, bad)
      assert.same({ [now[1]] = true, [now[2]] = true }, seen)
    end)
    local err = stop(proc)
    os.remove(path)
    os.remove(out)
    os.remove(out .. ".curl")
    assert(ok, tostring(e) .. "\n" .. err)
  end)

for _, all in ipairs({ false, true }) do
  it("SIGTERM " .. (all and "to the supervisor and every worker at once (systemd's control group)"
      or "to the supervisor") .. " drains every worker: requests in flight are answered, then exit 0", function()
    local path = app("1")
    local proc = workers(path, 2)
    local out = os.tmpname()
    local ok, e = pcall(function()
      local kids = children(proc.pid)
      assert.equal(2, #kids)
      os.execute(string.format(
        "(for i in $(seq 16); do curl -s -m 10 --http2-prior-knowledge http://127.0.0.1:%d/slow & done; wait; echo; echo end) > %s 2>&1 &",
        proc.port, out))
      -- all 16 in flight (one not yet connected would be refused)
      assert.truthy(wait_for(function()
        return select(2, (H.readfile(proc.base .. ".out") or ""):gsub("got /slow", "")) == 16
      end, 20))
      os.execute("kill -TERM " .. proc.pid .. (all and " " .. table.concat(kids, " ") or ""))
      assert.truthy(wait_for(function() return (H.readfile(out) or ""):find("end") end, 20))
      local body = H.readfile(out)
      assert.equal(16, select(2, body:gsub("hello 1", "")), body)
      assert.equal(0, H.status(proc, 20))
      for _, k in ipairs(kids) do
        assert.falsy(os.execute("kill -0 " .. k .. " 2>/dev/null"))
      end
    end)
    local err = stop(proc)
    os.remove(path)
    os.remove(out)
    assert(ok, tostring(e) .. "\n" .. err)
  end)
end

  it("SIGHUP with broken code on disk: the replacement fails, the old workers keep serving", function()
    local path = app("1")
    local proc = workers(path, 2)
    local ok, e = pcall(function()
      local old = children(proc.pid)
      assert.equal(2, #old)
      H.writefile(path, "error('broken release')\n")
      os.execute("kill -HUP " .. proc.pid)
      assert.truthy(wait_for(function()
        local err = H.readfile(proc.base .. ".err") or ""
        return select(2, err:gsub("before it was ready; the old worker %d keeps serving", "")) == 2
      end, 20), H.readfile(proc.base .. ".err"))
      assert.same(old, children(proc.pid))
      local seen, bad = {}, 0
      for _ = 1, 10 do
        local pids, b = ask(proc.port, 10, "1")
        bad = bad + b
        for p in pairs(pids) do seen[p] = true end
        if count(seen) == 2 then break end
      end
      assert.equal(0, bad)
      assert.same({ [old[1]] = true, [old[2]] = true }, seen)
    end)
    local err = stop(proc)
    os.remove(path)
    assert(ok, tostring(e) .. "\n" .. err)
  end)

  it("a script that fails before listening ends the supervisor with 1 and one line per worker", function()
    local out = sh(H.BIN .. " --workers 2 -e 'error(\"boom at start\")' 2>&1; echo rc=$?")
    assert.truthy(out:find("rc=1\n", 1, true), out)
    assert.truthy(out:find("boom at start", 1, true), out)
    assert.truthy(out:find("before it was ready; stopping", 1, true), out)
    out = sh(H.BIN .. " --workers none -e '' 2>&1; echo rc=$?")
    assert.truthy(out:find("rc=2\n", 1, true), out)
  end)

  it("h2lua.cluster.start(2) from a script: the same supervisor, same pid", function()
    local path = os.tmpname() .. ".lua"
    H.writefile(path, [[
local h2lua = require "h2lua"
h2lua.cluster.start(2)
local server = require("http2").createServer(function(req, res) res:finish("ok") end)
server:listen(0, "127.0.0.1", function()
  print(("listening %d worker %d primary %s"):format(server:address().port,
    h2lua.cluster.worker.id, tostring(h2lua.cluster.isPrimary)))
  io.stdout:flush()
end)
]])
    local proc = H.start(path)
    local ok, e = pcall(function()
      assert.truthy(wait_for(function()
        local o = H.readfile(proc.base .. ".out") or ""
        return o:find("worker 1 primary false", 1, true) and o:find("worker 2 primary false", 1, true)
      end, 20), (H.readfile(proc.base .. ".err") or ""))
      assert.equal(2, #children(proc.pid))
      os.execute("kill -TERM " .. proc.pid)
      assert.equal(0, H.status(proc, 20))
    end)
    H.stop(proc)
    os.remove(path)
    assert(ok, e)
  end)
end)

describe("listen option reusePort", function()
  it("two processes listen on one port with reusePort; without it, EADDRINUSE", function()
    local code = [[
local s = require("http2").createServer()
s:on("error", function(e) print("error " .. e.code) io.stdout:flush() os.exit(3) end)
s:listen({ port = %d, host = "127.0.0.1", reusePort = %s }, function()
  print("listening " .. s:address().port) io.stdout:flush()
end)
]]
    local function start(port, reuse)
      local path = os.tmpname() .. ".lua"
      H.writefile(path, code:format(port, tostring(reuse)))
      local proc = H.start(path)
      proc.path = path
      return proc
    end
    local a = start(0, true)
    local port = tonumber(H.wait_output(a, "listening (%d+)"))
    local b = start(port, true)
    local bport = H.wait_output(b, "listening (%d+)")
    local c = start(port, false)
    local cerr = H.wait_output(c, "error (%u+)")
    for _, p in ipairs({ a, b, c }) do
      H.stop(p)
      os.remove(p.path)
    end
    assert.is_number(port)
    assert.equal(tostring(port), bport)
    assert.equal("EADDRINUSE", cerr)
    assert.equal("ERR_INVALID_ARG_TYPE", H.code_of(function()
      require("http2").createServer():listen({ port = 0, reusePort = "yes" })
    end))
  end)
end)

describe("draining without workers", function()
  it("a connection accepted before server:close() whose request comes after is still answered", function()
    local h2lua = require "h2lua"
    local http2 = require "http2"
    H.run(function()
      local server = http2.createServer({ allowHTTP1 = true }, function(req, res)
                res:finish("late but served")
      end)
      local port = H.listen(server)
      local c = h2lua.net.connect(port, "127.0.0.1")
      assert(c:wait("connect", 2000))
      -- accepted (a session whose protocol is not known yet), then closed
      assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 1 end, 2000))
      server:close()
      h2lua.sleep(50)
      c:write("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
      local all = c:readAll()
      assert.truthy(all and all:find("late but served", 1, true), tostring(all))
      assert.truthy(all:find("^HTTP/1.1 200"), all)
    end)
    assert.is_nil(H.leaks())
  end)

  it("SIGTERM with 16 slow requests in flight answers all 16, then exit 0", function()
    local path = os.tmpname() .. ".lua"
    H.writefile(path, [[
local h2lua = require "h2lua"
local server = require("http2").createServer()
server:on("stream", function(stream)
  print("got") io.stdout:flush()
  h2lua.setTimeout(function() stream:respond({ [":status"] = 200 }) stream:finish("answered\n") end, 400)
end)
server:listen(0, "127.0.0.1", function() print("listening " .. server:address().port) io.stdout:flush() end)
]])
    local proc = H.start(path)
    local out = os.tmpname()
    local ok, e = pcall(function()
      local port = H.wait_output(proc, "listening (%d+)")
      assert.truthy(port)
      os.execute(string.format(
        "(for i in $(seq 16); do curl -sS -m 10 --http2-prior-knowledge http://127.0.0.1:%s/ & done; wait; echo end) > %s 2>&1 &",
        port, out))
      assert.truthy(wait_for(function()
        return select(2, (H.readfile(proc.base .. ".out") or ""):gsub("got", "")) == 16
      end, 20))
      os.execute("kill -TERM " .. proc.pid)
      assert.truthy(wait_for(function() return (H.readfile(out) or ""):find("end") end, 20))
      local body = H.readfile(out)
      assert.equal(16, select(2, body:gsub("answered", "")), body)
      assert.equal(0, H.status(proc, 20))
    end)
    H.stop(proc)
    os.remove(path)
    os.remove(out)
    assert(ok, e)
  end)
end)
