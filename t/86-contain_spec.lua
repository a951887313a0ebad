-- Containment (issue 9, "Hostile peers and faulty scripts"): what a
-- hostile client or a faulty handler can do stays with its stream or its
-- session. Errors raised by lifecycle listeners ('close', 'error', ...)
-- are reported and never skip the runtime's cleanup; a client's GOAWAY
-- with an error code does not leak its session; a handler over its CPU
-- budget or the memory limit fails alone; SIGTERM is acted on while Lua
-- spins. Every wait is bounded; the bounds are in the names.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local MiB = 1024 * 1024

-- Runs fn with io.stderr replaced by a buffer; -> what was written.
local function capture_stderr(fn)
  local real, parts = io.stderr, {}
  io.stderr = { write = function(self, ...)
    for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
    return self
  end }
  local ok, err = pcall(fn)
  io.stderr = real
  if not ok then error(err, 0) end
  return table.concat(parts)
end

-- n connections that each send GOAWAY(code) (t/clients/goaways.py).
local function goaways(port, n, code)
  local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/goaways.py " .. port .. " " .. n .. " " .. code, 60)
  assert.equal(0, rc, out .. err)
  return tonumber(out:match("done=(%d+)")), tonumber(out:match("eof=(%d+)"))
end

local function lua_kb()
  collectgarbage()
  collectgarbage()
  return collectgarbage("count")
end

local function closes_in(server, ms)
  local closed = false
  server:close(function() closed = true end)
  return H.wait_until(function() return closed end, ms)
end

describe("containment: lifecycle listeners and GOAWAY", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("400 GOAWAY(INTERNAL_ERROR) connections: sessions released, Lua memory flat (< 64 KiB), 'sessionError' each, server:close(cb) within 2 s", function()
    local out
    local stderr = capture_stderr(function()
      H.run(function()
        local server = http2.createServer()
        server:on("stream", function(s) s:respond({ [":status"] = 200 }) s:finish("ok") end)
        local errors = 0
        server:on("sessionError", function(err, session)
          assert.equal("ERR_HTTP2_SESSION_ERROR", err.code)
          errors = errors + 1
        end)
        local port = H.listen(server)
        goaways(port, 50, 2) -- warm the pools and caches
        assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000))
        local before = lua_kb()
        local done, eof = goaways(port, 400, 2)
        assert.equal(400, done)
        assert.equal(400, eof)
        assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000),
          "sessions left: " .. h2lua._stats().sessions)
        local grown = lua_kb() - before
        out = { grown = grown, errors = errors }
        assert.truthy(grown < 64, ("Lua memory grew by %.1f KiB"):format(grown))
        assert.equal(450, errors)
        assert.truthy(closes_in(server, 2000), "server:close(cb) did not complete")
      end, 60000)
    end)
    -- forwarded to 'sessionError': nothing unhandled to report
    assert.falsy(stderr:find("ERR_HTTP2_SESSION_ERROR", 1, true), stderr)
  end)

  it("a session 'error' listener that raises: reported with what raised, the session released, server:close(cb) within 2 s", function()
    local stderr = capture_stderr(function()
      H.run(function()
        local server = http2.createServer()
        local sessions = 0
        server:on("session", function(session)
          sessions = sessions + 1
          session:on("error", function() error("boom in the error listener") end)
        end)
        local port = H.listen(server)
        local done, eof = goaways(port, 20, 1)
        assert.equal(20, eof)
        assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000))
        assert.equal(20, sessions)
        assert.truthy(closes_in(server, 2000), "server:close(cb) did not complete")
      end, 30000)
    end)
    assert.truthy(stderr:find("error in a 'error' listener of Http2Session: ", 1, true), stderr)
    assert.truthy(stderr:find("boom in the error listener", 1, true), stderr)
  end)

  it("a stream 'close' listener that raises: reported, the stream's waiters woken (within 2 s), the session closes", function()
    local stderr = capture_stderr(function()
      H.run(function()
        local woke, waited
        local server = http2.createServer()
        server:on("stream", function(stream)
          stream:on("close", function() error("boom in the close listener") end)
          stream:respond({ [":status"] = 200 })
          stream:write("partial")
          -- trailers that never come: only the close ends this wait
          waited = true
          woke = table.pack(stream:wait("trailers"))
        end)
        local port = H.listen(server)
        local client = http2.connect("http://127.0.0.1:" .. port)
        local req = client:request({ [":path"] = "/" }, { endStream = false })
        req:wait("response", 2000)
        req:close(http2.constants.NGHTTP2_CANCEL)
        assert.truthy(H.wait_until(function() return woke ~= nil end, 2000),
          "the waiter was not woken (waited: " .. tostring(waited) .. ")")
        assert.is_nil(woke[1])
        assert.equal("closed", woke[2])
        client:close()
        assert.truthy(closes_in(server, 2000), "server:close(cb) did not complete")
      end, 30000)
    end)
    assert.truthy(stderr:find("error in a 'close' listener of Http2Stream: ", 1, true), stderr)
    assert.truthy(stderr:find("boom in the close listener", 1, true), stderr)
  end)

  it("a session 'close' listener and a 'goaway' listener that raise: both reported, the session still released (server:close(cb) within 2 s)", function()
    local stderr = capture_stderr(function()
      H.run(function()
        local server = http2.createServer()
        server:on("session", function(session)
          session:on("goaway", function() error("boom in goaway") end)
          session:on("close", function() error("boom in close") end)
        end)
        local port = H.listen(server)
        local _, eof = goaways(port, 10, 0)
        assert.equal(10, eof)
        assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000))
        assert.truthy(closes_in(server, 2000), "server:close(cb) did not complete")
      end, 30000)
    end)
    assert.truthy(stderr:find("error in a 'goaway' listener of Http2Session: ", 1, true), stderr)
    assert.truthy(stderr:find("error in a 'close' listener of Http2Session: ", 1, true), stderr)
  end)
end)

-- A script for the h2lua program (a temp file): a server whose handlers
-- misbehave by path, printing "listening PORT".
local function script(body)
  local path = os.tmpname() .. ".lua"
  H.writefile(path, [[
local http2 = require "http2"
local h2lua = require "h2lua"
local function rss() return tonumber(io.open("/proc/self/status"):read("a"):match("VmRSS:%s*(%d+)")) end
local server = http2.createServer()
server:on("stream", function(s, h)
  local path = h[":path"]
]] .. body .. [[
  s:respond({ [":status"] = 200 })
  s:finish(("rss %d\n"):format(rss()))
end)
server:listen(0, "127.0.0.1", function() print("listening " .. server:address().port) io.stdout:flush() end)
]])
  return path
end

local SPIN = [[
  if path == "/spin" then while true do end end
  if path == "/spin-pcall" then -- a pcall in a loop cannot catch the stop
    local n = 0
    while true do pcall(function() while true do n = n + 1 end end) end
  end
  if path == "/spin-sent" then
    s:respond({ [":status"] = 200 })
    s:write("started")
    while true do end
  end
]]

describe("containment: the CPU budget", function()
  local saved
  before_each(function() saved = h2lua.limits().cpuBudget end)
  after_each(function()
    h2lua.limits({ cpuBudget = saved })
    assert.is_nil(H.leaks())
  end)

  -- valgrind (and any late delivery) can hand over a tick raised just
  -- before the timer was disarmed: it must not end the process
  it("a SIGPROF arriving after the budget's timer is stopped does not kill the program", function()
    local script = os.tmpname()
    H.writefile(script, [[
      local h2lua = require "h2lua"
      local timers = require "h2lua.timers"
      timers.setTimeout(function()
        h2lua.limits({ cpuBudget = 0 }) -- the timer off, while the loop runs
        os.execute("kill -PROF $PPID")
        timers.setTimeout(function() print("alive") end, 50)
      end, 10)
    ]])
    H.run(function()
      local rc, out, err = H.sh(H.BIN .. " " .. script, 20)
      os.remove(script)
      assert.equal(0, rc, out .. err)
      assert.equal("alive\n", out)
    end)
  end)

  it("defaults to 10 s of CPU per run; h2lua.limits sets and validates it", function()
    assert.equal(10000, h2lua.limits().cpuBudget)
    assert.equal(300, h2lua.limits({ cpuBudget = 300 }).cpuBudget)
    local ok, err = pcall(h2lua.limits, { cpuBudget = -1 })
    assert.falsy(ok)
    assert.equal("ERR_INVALID_ARG_TYPE", err.code)
  end)

  it("a handler in an infinite loop (budget 300 ms) gets its stream 503 and the same session serves the next request (each within 2 s); one that catches with pcall, too; one that sent headers gets RST_STREAM(INTERNAL_ERROR)", function()
    local stderr = capture_stderr(function()
      H.run(function()
        h2lua.limits({ cpuBudget = 300 })
        local server = http2.createServer()
        server:on("stream", function(s, h)
          local path = h[":path"]
          if path == "/spin" then while true do end end
          if path == "/spin-pcall" then
            local n = 0
            while true do pcall(function() while true do n = n + 1 end end) end
          end
          if path == "/spin-sent" then
            s:respond({ [":status"] = 200 })
            s:write("started")
            while true do end
          end
          s:respond({ [":status"] = 200 })
          s:finish("ok\n")
        end)
        local port = H.listen(server)
        -- one session, one request after the other (each wait bounds one)
        local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2raw.py " .. port .. " " .. H.shq(
          "preface; settings; headers 1 end :path=/spin; wait 2; headers 3 end; wait 0.5; " ..
          "headers 5 end :path=/spin-pcall; wait 2; headers 7 end :path=/spin-sent; wait 2; " ..
          "headers 9 end; wait 0.5"), 30)
        assert.equal(0, rc, err)
        local got = {}
        for line in out:gmatch("[^\n]+") do
          local kind, id = line:match("^([%u_]+) stream=(%d+)")
          if kind == "HEADERS" then got[#got + 1] = id .. " " .. line:match(":status=(%d+)")
          elseif kind == "RST_STREAM" then got[#got + 1] = id .. " reset " .. line:match("code=(%d+)") end
        end
        -- what was sent goes out before the RST_STREAM
        assert.same({ "1 503", "3 200", "5 503", "7 200", "7 reset 2", "9 200" }, got, out)
      end, 60000)
    end)
    assert.truthy(stderr:find("ERR_H2LUA_CPU_BUDGET", 1, true), stderr)
  end)

  it("a stream 'close' listener and a session 'close' listener in infinite loops (budget 300 ms): stopped, the waiter woken, server:close(cb) within 5 s", function()
    capture_stderr(function()
      H.run(function()
        h2lua.limits({ cpuBudget = 300 })
        local woke
        local server = http2.createServer()
        server:on("session", function(session) session:on("close", function() while true do end end) end)
        server:on("stream", function(stream)
          stream:on("close", function() while true do end end)
          stream:respond({ [":status"] = 200 })
          stream:write("partial")
          woke = table.pack(stream:wait("trailers"))
        end)
        local port = H.listen(server)
        local client = http2.connect("http://127.0.0.1:" .. port)
        local req = client:request({ [":path"] = "/" }, { endStream = false })
        req:wait("response", 5000)
        req:close(http2.constants.NGHTTP2_CANCEL)
        assert.truthy(H.wait_until(function() return woke ~= nil end, 5000), "the waiter was not woken")
        assert.equal("closed", woke[2])
        client:close()
        assert.truthy(closes_in(server, 5000), "server:close(cb) did not complete")
      end, 60000)
    end)
  end)

  it("an SNICallback in an infinite loop (budget 300 ms, Lua on the main thread): stopped with ERR_H2LUA_CPU_BUDGET reported, the handshake goes on with the default certificate, the next connection served (curl --max-time 10)", function()
    local PKI = os.tmpname() .. ".pki"
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. PKI .. " >/dev/null"))
    local stderr = capture_stderr(function()
      H.run(function()
        h2lua.limits({ cpuBudget = 300 })
        local server = http2.createSecureServer({
          key = H.readfile(PKI .. "/server-key.pem"), cert = H.readfile(PKI .. "/server.pem"),
          SNICallback = function(name, cb)
            if name == "spin.test" then while true do end end
            cb(nil, nil)
          end,
        })
        server:on("stream", function(st) st:respond() st:finish("ok") end)
        local port = H.listen(server)
        for _, name in ipairs({ "spin.test", "other.test" }) do
          local rc, out, err = H.sh(("curl -sSk --max-time 10 --http2 --resolve %s:%d:127.0.0.1 https://%s:%d/")
            :format(name, port, name, port), 20)
          assert.equal(0, rc, err)
          assert.equal("ok", out)
        end
        server:close()
      end, 60000)
    end)
    os.execute("rm -rf " .. PKI)
    assert.truthy(stderr:find("ERR_H2LUA_CPU_BUDGET", 1, true), stderr)
  end)

  it("a timer callback in an infinite loop (budget 300 ms): stopped, reported, the next timer runs and a request is served (within 5 s)", function()
    local stderr = capture_stderr(function()
      H.run(function()
        h2lua.limits({ cpuBudget = 300 })
        local server = http2.createServer(function(req, res) res:finish("ok") end)
        local port = H.listen(server)
        local ran = false
        h2lua.setTimeout(function() while true do end end, 10)
        h2lua.setTimeout(function() ran = true end, 20)
        assert.truthy(H.wait_until(function() return ran end, 5000), "the next timer did not run")
        local rc, out, err = H.sh("curl -sS --max-time 5 --http2-prior-knowledge http://127.0.0.1:" .. port .. "/", 10)
        assert.equal(0, rc, err)
        assert.equal("ok", out)
        server:close()
      end, 60000)
    end)
    assert.truthy(stderr:find("ERR_H2LUA_CPU_BUDGET", 1, true), stderr)
  end)

  for _, sig in ipairs({ "TERM", "INT" }) do
    it("SIG" .. sig .. " while a handler spins (the default budget, 10 s): the program stops it (503) and exits 0 within 3 s", function()
      local path = script(SPIN)
      local proc = H.start(path)
      local port = H.wait_output(proc, "listening (%d+)", 10)
      assert.is_not_nil(port, "server did not start")
      local body = os.tmpname()
      os.execute("curl -s --max-time 20 --http2-prior-knowledge -w '%{http_code}' http://127.0.0.1:" .. port ..
        "/spin > " .. body .. " 2>&1 &")
      -- the handler is spinning once the server stops answering
      os.execute("sleep 0.5")
      os.execute("kill -" .. sig .. " " .. proc.pid)
      local status = H.status(proc, 3)
      local out, err = H.stop(proc)
      os.remove(path)
      assert.equal(0, status, err)
      assert.truthy(err:find("ERR_H2LUA_INTERRUPTED", 1, true), err)
      local got
      for _ = 1, 100 do
        got = H.readfile(body)
        if got and got ~= "" then break end
        os.execute("sleep 0.02")
      end
      os.remove(body)
      assert.equal("503", got)
    end)
  end
end)

describe("containment: the memory limit", function()
  after_each(function()
    h2lua.limits({ maxMemory = 0 })
    assert.is_nil(H.leaks())
  end)

  it("is none by default; h2lua.limits{maxMemory=} in a library host: a handler allocating without bound fails alone (503 within 30 s), the next request is served, the Lua state's memory back within 2 MiB", function()
    assert.equal(0, h2lua.limits().maxMemory)
    local stderr = capture_stderr(function()
      H.run(function()
        local server = http2.createServer()
        server:on("stream", function(s, h)
          if h[":path"] == "/grow" then
            local t, i = {}, 0
            while true do i = i + 1 t[i] = { i } end
          end
          s:respond({ [":status"] = 200 })
          s:finish("ok")
        end)
        local port = H.listen(server)
        collectgarbage()
        local before = h2lua.limits().memoryUsed
        assert.equal(before + 32 * MiB, h2lua.limits({ maxMemory = before + 32 * MiB }).maxMemory)
        local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2raw.py " .. port .. " " .. H.shq(
          "preface; settings; headers 1 end :path=/grow; wait 5; headers 3 end; wait 0.5"), 30)
        assert.equal(0, rc, err)
        assert.truthy(out:find("HEADERS stream=1 [^\n]*:status=503"), out)
        assert.truthy(out:find("HEADERS stream=3 [^\n]*:status=200"), out)
        collectgarbage()
        local after = h2lua.limits().memoryUsed
        assert.truthy(after < before + 2 * MiB, ("%d bytes before, %d after"):format(before, after))
      end, 60000)
    end)
    assert.truthy(stderr:find("ERR_H2LUA_MEMORY", 1, true), stderr)
  end)

  it("without a limit, under ulimit -v 600000: a handler allocating without bound fails alone (503, curl --max-time 60), the next request is served, RSS back within 16 MiB of the start", function()
    -- AddressSanitizer reserves terabytes of address space: no ulimit -v
    if os.execute("ldd " .. H.shq(H.BIN) .. " 2>/dev/null | grep -q libasan") == true then
      return pending("an AddressSanitizer build cannot run under ulimit -v")
    end
    local path = script([[
  if path == "/tables" then local t = {} local i = 0 while true do i = i + 1 t[i] = { i } end end
]])
    local proc = H.start(path, nil, "ulimit -v 600000;")
    local port = H.wait_output(proc, "listening (%d+)", 10)
    assert.is_not_nil(port, "server did not start")
    local function get(p)
      local f = io.popen("curl -sS --max-time 60 --http2-prior-knowledge -w ' %{http_code}' http://127.0.0.1:" ..
        port .. p .. " 2>&1")
      local out = f:read("a")
      f:close()
      return out
    end
    local start = tonumber(get("/"):match("rss (%d+)"))
    assert.is_not_nil(start)
    assert.equal(" 503", get("/tables"))
    local after = get("/")
    local _, err = H.stop(proc)
    os.remove(path)
    assert.truthy(err:find("ERR_H2LUA_MEMORY", 1, true), err)
    local rss = tonumber(after:match("rss (%d+)"))
    assert.truthy(rss and rss < start + 16 * 1024, ("RSS %s KiB after, %d KiB at the start"):format(after, start))
  end)

  it("h2lua --max-memory 64m: handlers allocating without bound (small tables, long strings) fail alone (503, curl --max-time 60), the next request is served, RSS back within 16 MiB of the start", function()
    local path = script([[
  if path == "/tables" then local t = {} local i = 0 while true do i = i + 1 t[i] = { i } end end
  if path == "/strings" then local t = {} local i = 0 while true do i = i + 1 t[i] = ("x"):rep(1000) .. i end end
]])
    local proc = H.start(nil, "--max-memory 64m " .. H.shq(path))
    local port = H.wait_output(proc, "listening (%d+)", 10)
    assert.is_not_nil(port, "server did not start")
    local rc = {}
    local function get(p)
      local f = io.popen("curl -sS --max-time 60 --http2-prior-knowledge -w ' %{http_code}' http://127.0.0.1:" ..
        port .. p .. " 2>&1")
      local out = f:read("a")
      f:close()
      return out
    end
    local start = tonumber(get("/"):match("rss (%d+)"))
    assert.is_not_nil(start)
    assert.equal(" 503", get("/tables"))
    local after_tables = get("/")
    assert.equal(" 503", get("/strings"))
    local after = get("/")
    local out, err = H.stop(proc)
    os.remove(path)
    assert.truthy(err:find("ERR_H2LUA_MEMORY", 1, true), err)
    local rss1, rss2 = tonumber(after_tables:match("rss (%d+)")), tonumber(after:match("rss (%d+)"))
    assert.truthy(rss1 and rss1 < start + 16 * 1024, ("RSS %s KiB after, %d KiB at the start"):format(after_tables, start))
    assert.truthy(rss2 and rss2 < start + 16 * 1024, ("RSS %s KiB after, %d KiB at the start"):format(after, start))
  end)
end)
