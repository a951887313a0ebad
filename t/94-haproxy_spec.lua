-- The HAProxy recipe of docs/deploy.md, run as written
-- (examples/haproxy/): HAProxy terminates TLS (ALPN h2) and spreads
-- HTTP/2 over two h2lua instances on loopback. Both serve; one drained
-- with SIGTERM while h2load runs through HAProxy loses no request; a
-- killed one is taken out of rotation by the health check.
local H = require "helper"
local P = require "pki"

local HAPROXY = io.popen("command -v haproxy 2>/dev/null || ls /usr/sbin/haproxy 2>/dev/null"):read("l")

if not HAPROXY or HAPROXY == "" then
  describe("behind HAProxy", function()
    pending("haproxy is not installed (apt-get install haproxy; ./bootstrap check does)")
  end)
  return
end

local function sleep(s) os.execute("sleep " .. s) end

-- n ports free now (bound together, then released)
local function free_ports(n)
  local p = io.popen(H.PY .. " -c " .. H.shq(([[
import socket
ss = [socket.socket() for _ in range(%d)]
for s in ss: s.bind(('127.0.0.1', 0))
print(' '.join(str(s.getsockname()[1]) for s in ss))
]]):format(n)))
  local out = p:read("a")
  p:close()
  local ports = {}
  for x in out:gmatch("%d+") do ports[#ports + 1] = tonumber(x) end
  assert(#ports == n, "no free ports: " .. out)
  return ports
end

-- HAProxy's view of a server: "UP", "DOWN", ... (its stats as CSV)
local function state(stats_port, name)
  local p = io.popen("curl -s -m 2 'http://127.0.0.1:" .. stats_port .. "/stats;csv'")
  local csv = p:read("a")
  p:close()
  for line in csv:gmatch("[^\n]+") do
    local px, sv, rest = line:match("^([^,]*),([^,]*),(.*)$")
    if px == "h2lua" and sv == name then
      local fields = {}
      for f in (rest .. ","):gmatch("([^,]*),") do fields[#fields + 1] = f end
      return fields[16] -- the 18th column: status
    end
  end
end

local function wait_state(stats_port, name, want, timeout)
  for _ = 1, math.floor((timeout or 10) * 10) do
    if (state(stats_port, name) or ""):match("^" .. want) then return true end
    sleep(0.1)
  end
  return false
end

-- The bodies of |n| requests on one HTTP/2 connection through HAProxy.
local function get_many(port, pki, n)
  local url = "https://localhost:" .. port .. "/"
  local p = io.popen("curl -s -m 10 --http2 --cacert " .. pki .. "/ca.pem" ..
    (" " .. url):rep(n) .. " -w '%{http_code} %{http_version}\\n'")
  local out = p:read("a")
  p:close()
  return out
end

describe("behind HAProxy (examples/haproxy)", function()
  local pki, ports, hap, inst = nil, nil, nil, {}

  local function start_instance(name, port)
    local proc = H.start("examples/haproxy/app.lua", "", "NAME=" .. name .. " PORT=" .. port)
    assert(H.wait_output(proc, "listening (%d+)", 10), "instance " .. name .. " did not start")
    inst[name] = proc
    return proc
  end

  setup(function()
    pki = P.make()
    ports = free_ports(4) -- front, a, b, stats
    start_instance("a", ports[2])
    start_instance("b", ports[3])
    local base = os.tmpname()
    -- the program itself, in the foreground (-db): its PID is ours to kill
    os.execute(("(H2LUA_FRONT=%d H2LUA_A=%d H2LUA_B=%d H2LUA_STATS=%d H2LUA_CERT=%s %s -db -f %s" ..
      " > %s.out 2>&1 & echo $! > %s.pid)"):format(ports[1], ports[2], ports[3], ports[4],
      pki .. "/server-full.pem", HAPROXY, "examples/haproxy/haproxy.cfg", base, base))
    sleep(0.2)
    hap = { pid = tonumber(H.readfile(base .. ".pid") or ""), base = base }
    assert(hap.pid, "haproxy did not start")
  end)

  teardown(function()
    if hap and hap.pid then
      os.execute("kill " .. hap.pid .. " 2>/dev/null")
      for _, ext in ipairs({ ".out", ".pid", "" }) do os.remove(hap.base .. ext) end
    end
    for _, proc in pairs(inst) do H.stop(proc) end
    P.remove(pki)
  end)

  it("both instances pass the health check and serve, over HTTP/2 end to end", function()
    assert.is_true(wait_state(ports[4], "a", "UP"), H.readfile(hap.base .. ".out"))
    assert.is_true(wait_state(ports[4], "b", "UP"), H.readfile(hap.base .. ".out"))
    local out = get_many(ports[1], pki, 8)
    local _, a = out:gsub("hello from a", "")
    local _, b = out:gsub("hello from b", "")
    local _, ok = out:gsub("200 2\n", "")
    assert.equal(8, ok, out)
    assert.equal(8, a + b, out)
    assert.is_true(a >= 1 and b >= 1, out)
  end)

  it("an instance drained with SIGTERM loses no request: h2load through HAProxy meanwhile has 0 failed", function()
    local out = os.tmpname()
    os.execute(("(h2load -D 3 -c 4 -m 8 https://localhost:%d/ > %s 2>&1; echo done >> %s) &")
      :format(ports[1], out, out))
    sleep(1)
    os.execute("kill -TERM " .. inst.b.pid)
    local exited = H.wait_exit(inst.b, 15)
    local rc = H.status(inst.b, 5)
    for _ = 1, 150 do
      if (H.readfile(out) or ""):find("done\n", 1, true) then break end
      sleep(0.1)
    end
    local report = H.readfile(out) or ""
    os.remove(out)
    assert.is_true(exited, "the instance did not drain")
    assert.equal(0, rc)
    local total, succeeded, failed, errored = report:match(
      "requests: (%d+) total, %d+ started, %d+ done, (%d+) succeeded, (%d+) failed, (%d+) errored")
    assert.truthy(total, report)
    assert.is_true(tonumber(total) > 0, report)
    assert.equal("0", failed, report)
    assert.equal("0", errored, report)
    local twoxx = report:match("status codes: (%d+) 2xx")
    assert.equal(succeeded, twoxx, report)
    -- it is out of rotation now: everything goes to a
    assert.is_true(wait_state(ports[4], "b", "DOWN"))
    local after = get_many(ports[1], pki, 4)
    local _, a = after:gsub("hello from a\n200 2\n", "")
    assert.equal(4, a, after)
    H.stop(inst.b)
  end)

  it("a killed instance is taken out of rotation by the health check; the other serves everything", function()
    start_instance("b", ports[3])
    assert.is_true(wait_state(ports[4], "b", "UP"), "b did not come back")
    os.execute("kill -9 " .. inst.b.pid)
    assert.is_true(wait_state(ports[4], "b", "DOWN", 10), "the health check did not take b out")
    assert.is_true(wait_state(ports[4], "a", "UP", 1))
    local out = get_many(ports[1], pki, 6)
    local _, a = out:gsub("hello from a\n200 2\n", "")
    assert.equal(6, a, out)
    H.stop(inst.b)
    inst.b = nil
  end)
end)
