-- A peer that opens streams and never finishes them (RFC 9113 5.1.2): a
-- server advertises maxConcurrentStreams 100 by default, nghttp2 answers
-- a stream past it with RST_STREAM(REFUSED_STREAM) while the limit is
-- unacknowledged and with GOAWAY(PROTOCOL_ERROR) once it is in force,
-- and the server's memory stays bounded while others are served. The
-- server is an h2lua program (its RSS is its own); the attack is
-- t/clients/idle_streams.py, the well-behaved client curl. Every wait is
-- bounded; processes started here are killed by their PID.
local H = require "helper"

local MiB = 1024 * 1024

-- The handler reads the whole body before it answers: an idle stream
-- keeps its handler waiting, the costliest kind of open stream. It
-- reports the most handlers it ever held at once. (%s: the options.)
local APP = [[
  local http2 = require "http2"
  local h2lua = require "h2lua"
  local server = http2.createServer(%s)
  local open, peak = 0, 0
  server:on("stream", function(stream)
    open = open + 1
    if open > peak then peak = open end
    local body = stream:readAll()
    open = open - 1
    if not body or stream.destroyed then return end
    stream:respond({ [":status"] = 200 })
    stream:finish("read " .. #body .. "\n")
  end)
  h2lua.setInterval(function()
    print("peak " .. peak)
    io.stdout:flush()
  end, 200)
  server:listen(0, "127.0.0.1", function()
    print("listening on " .. server:address().port)
    io.stdout:flush()
  end)
]]

local function proc_mem(pid, field)
  local s = H.readfile("/proc/" .. pid .. "/status") or ""
  local kb = s:match(field .. ":%s*(%d+)")
  return kb and tonumber(kb) * 1024 or nil
end

local function sleep(s) os.execute("sleep " .. s) end

-- Starts the app with |options| (Lua source); -> proc, port.
local function start(options)
  local app = os.tmpname() .. ".lua"
  H.writefile(app, APP:format(options))
  local proc = H.start(app)
  local port = H.wait_output(proc, "listening on (%d+)", 20)
  os.remove(app)
  if not port then
    local out, err = H.stop(proc)
    error("the server did not start: " .. out .. err)
  end
  return proc, port
end

-- Stops the app; -> the most streams its handlers held at once.
local function stop(proc)
  sleep(0.3)
  local out = H.stop(proc)
  local peak = 0
  for p in out:gmatch("peak (%d+)") do peak = math.max(peak, tonumber(p)) end
  return peak
end

describe("idle streams", function()
  it("10 connections x 20 000 idle streams (reconnecting for 6 s): REFUSED_STREAM or PROTOCOL_ERROR past 100, server RSS grows < 64 MiB, a curl every 0.5 s answered with p50 < 50 ms (3 s limit)", function()
    local proc, port = start("nil")
    local before = proc_mem(proc.pid, "VmRSS")
    local attack, good = os.tmpname(), os.tmpname()
    os.execute(string.format(
      "(timeout -k 2 30 %s %s/idle_streams.py %s 10 20000 6 mixed reconnect > %s 2>&1; echo done >> %s) &",
      H.PY, H.CLIENTS, port, attack, attack))
    os.execute(string.format(
      "(for i in $(seq 1 12); do curl -s -o /dev/null -m 3 -w '%%{http_code} %%{time_total}\\n' " ..
      "--http2-prior-knowledge http://127.0.0.1:%s/; sleep 0.5; done > %s 2>&1; echo done >> %s) &",
      port, good, good))
    -- the RSS while both run (at most 30 s)
    local peak_rss = before
    for _ = 1, 300 do
      local rss = proc_mem(proc.pid, "VmRSS")
      if rss and rss > peak_rss then peak_rss = rss end
      local a, g = H.readfile(attack) or "", H.readfile(good) or ""
      if a:find("done\n", 1, true) and g:find("done\n", 1, true) then break end
      sleep(0.1)
    end
    local hwm = proc_mem(proc.pid, "VmHWM")
    local peak_streams = stop(proc)
    local a, g = H.readfile(attack) or "", H.readfile(good) or ""
    os.remove(attack)
    os.remove(good)
    assert(before and hwm, "could not read the server's /proc status")

    -- the attack met the RFC's answers, and the limit held
    local lines = 0
    for line in a:gmatch("conn [^\n]+") do
      lines = lines + 1
      assert.truthy(line:find("max_streams=100$"), line)
      if line:find("mode=noack", 1, true) then
        -- the limit pending: streams past it refused one by one, until
        -- maxSessionInvalidFrames ends the session
        assert.truthy(tonumber(line:match("refused=(%d+)")) > 0, line)
      else
        -- in force: a stream past it is a connection error
        assert.truthy(line:find("goaway=1:%d+") or tonumber(line:match("rst_protocol=(%d+)")) > 0, line)
      end
    end
    assert.equal(10, lines, a)
    assert.is_true(peak_streams > 0 and peak_streams <= 10 * 100 + 1,
      "the handlers held " .. peak_streams .. " streams at once")

    local growth = math.max(peak_rss, hwm) - before
    assert.is_true(growth < 64 * MiB, string.format("RSS grew by %.1f MiB", growth / MiB))

    -- the well-behaved client was answered, quickly
    local times = {}
    for code, t in g:gmatch("(%d+) ([%d.]+)\n") do
      assert.equal("200", code, g)
      times[#times + 1] = tonumber(t)
    end
    assert.is_true(#times >= 10, "answers: " .. g)
    table.sort(times)
    local p50 = times[(#times + 1) // 2]
    assert.is_true(p50 < 0.05, string.format("p50 %.3f s; all: %s", p50, table.concat(times, " ")))
  end)

  it("maxSessionMemory counts an open stream's Lua side (a fixed 2.5 KiB): 1 MiB holds fewer than 410 idle streams, the rest get ENHANCE_YOUR_CALM", function()
    -- maxConcurrentStreams out of the way: only the memory limit stops them
    local proc, port = start("{ maxSessionMemory = 1, settings = { maxConcurrentStreams = 100000 } }")
    local p = io.popen(string.format("timeout -k 2 20 %s %s/idle_streams.py %s 1 3000 2 ack 2>&1",
      H.PY, H.CLIENTS, port))
    local report = p:read("a")
    p:close()
    local peak = stop(proc)
    assert.truthy(report:find("max_streams=100000", 1, true), report)
    assert.truthy(tonumber(report:match("rst_other=(%d+)") or "0") > 0 or report:find("goaway=11:", 1, true), report)
    assert.is_true(peak > 0 and peak < 1024 * 1024 // 2560, "the handlers held " .. peak .. " streams at once")
  end)
end)
