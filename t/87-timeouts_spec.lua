-- The server's own timeouts (issue 9, "Hostile peers"): the TLS handshake,
-- the first bytes and the HTTP/2 preface, a header block (HTTP/2
-- HEADERS+CONTINUATION, an HTTP/1.1 request head), and a session without
-- open streams. Slow peers (t/clients/slowloris.py: a few hundred
-- connections each trickling bytes, or none) are all closed by them while
-- a good client is served; the server's memory stays bounded. The options
-- are set small here so the specs run fast; one spec checks the defaults.
-- Every wait is bounded; bounds are in the names.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local PKI = os.tmpname() .. ".pki"

-- N slow connections of |mode| -> {opened=, closed=, goaway=, status408=, min=, max=}
local function slowloris(port, mode, n, interval, duration)
  local rc, out, err = H.sh(("%s %s/slowloris.py %d %s %d %s %s"):format(H.PY, H.CLIENTS, port, mode, n,
    interval, duration), duration + 30)
  assert.equal(0, rc, out .. err)
  local r = { raw = out .. err }
  for k, v in out:gmatch("(%w+)=([%d.-]+)") do r[k] = tonumber(v) end
  return r
end

-- The resident memory of this process, KiB.
local function rss_kb()
  return tonumber((H.readfile("/proc/self/status") or ""):match("VmRSS:%s*(%d+)"))
end

-- A good client during an attack: |n| requests one after the other (curl,
-- a new connection each), -> the median time_total in ms and the statuses.
local function good_client(url, curl_args, n)
  local rc, out, err = H.sh(("for i in $(seq %d); do curl -sS -o /dev/null --max-time 5 %s -w '%%{http_code} %%{time_total}\\n' %s; sleep 0.02; done")
    :format(n, curl_args, url), 60)
  local times, statuses = {}, {}
  for code, t in out:gmatch("(%d+) ([%d.]+)\n") do
    statuses[#statuses + 1] = code
    times[#times + 1] = tonumber(t) * 1000
  end
  table.sort(times)
  return times[(#times + 1) // 2] or math.huge, statuses, out .. err
end

local function all_200(statuses, n)
  local want = {}
  for i = 1, n do want[i] = "200" end
  assert.same(want, statuses)
end

-- An attack (in the background) and a good client during it; -> attack
-- result, good client's median ms, RSS growth in KiB.
local function under_attack(port, mode, n, interval, duration, url, curl_args)
  local rss0 = rss_kb()
  local result, peak = nil, rss0
  h2lua.spawn(function() result = slowloris(port, mode, n, interval, duration) end)
  -- the attack is on once its connections are in
  H.wait_until(function() return h2lua._stats().sessions >= n // 2 end, 5000)
  local p50, statuses, raw = good_client(url, curl_args, 15)
  all_200(statuses, 15)
  assert.truthy(H.wait_until(function()
    peak = math.max(peak, rss_kb())
    return result ~= nil
  end, (duration + 30) * 1000))
  return result, p50, peak - rss0, result.raw .. "\ngood client:\n" .. raw
end

-- Closed no earlier than |secs| (the client starts its clock a moment
-- after the server does: 50 ms of slack) and before |bound|.
local function closed_between(r, secs, bound)
  return r.min >= secs - 0.05 and r.max < bound
end

local function hello(stream) stream:respond({ [":status"] = 200 }) stream:finish("hello") end

describe("server timeouts", function()
  setup(function()
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. PKI .. " >/dev/null"))
  end)
  teardown(function() os.execute("rm -rf " .. PKI) end)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("have their defaults (handshake 10 s, preface 10 s, headers 20 s, keep-alive 120 s; Node's server.timeout 0), can be set and are validated", function()
    local server = http2.createServer()
    assert.equal(10000, server.handshakeTimeout)
    assert.equal(10000, server.prefaceTimeout)
    assert.equal(20000, server.headersTimeout)
    assert.equal(120000, server.keepAliveTimeout)
    assert.equal(0, server.timeout)
    local secure = http2.createSecureServer({ key = H.readfile(PKI .. "/server-key.pem"),
      cert = H.readfile(PKI .. "/server.pem") })
    assert.equal(10000, secure.handshakeTimeout)
    local set = http2.createServer({ handshakeTimeout = 1, prefaceTimeout = 2, headersTimeout = 3,
      keepAliveTimeout = 0 })
    assert.same({ 1, 2, 3, 0 }, { set.handshakeTimeout, set.prefaceTimeout, set.headersTimeout,
      set.keepAliveTimeout })
    local ok, err = pcall(http2.createServer, { headersTimeout = -1 })
    assert.falsy(ok)
    assert.equal("ERR_OUT_OF_RANGE", err.code)
    ok, err = pcall(http2.createServer, { keepAliveTimeout = "long" })
    assert.falsy(ok)
    assert.equal("ERR_INVALID_ARG_TYPE", err.code)
  end)

  it("HTTP/2 slowloris: 300 connections trickling a HEADERS frame and 100 an endless CONTINUATION, all closed with GOAWAY by headersTimeout (1 s; within 8 s), RSS + < 40 MiB, a good client served meanwhile (p50 < 50 ms)", function()
    H.run(function()
      local server = http2.createServer({ headersTimeout = 1000 }, nil)
      server:on("stream", hello)
      local port = H.listen(server)
      local url = "http://127.0.0.1:" .. port .. "/"
      local r, p50, grown, raw = under_attack(port, "h2headers", 300, 0.1, 20, url, "--http2-prior-knowledge")
      assert.equal(300, r.closed, raw)
      assert.equal(300, r.goaway, raw)
      assert.truthy(closed_between(r, 1.0, 8), raw)
      assert.truthy(p50 < 50, "good client p50 " .. p50 .. " ms")
      assert.truthy(grown < 40 * 1024, "RSS grew by " .. grown .. " KiB")
      r = slowloris(port, "h2cont", 100, 0.05, 20)
      assert.equal(100, r.closed, r.raw)
      assert.equal(100, r.goaway, r.raw)
      assert.truthy(r.max < 8, r.raw)
      assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000))
    end, 90000)
  end)

  it("plaintext peers that send nothing, or the preface byte by byte: 200 each, closed without a word by prefaceTimeout (0.3 s; within 5 s)", function()
    H.run(function()
      local server = http2.createServer({ prefaceTimeout = 300 })
      server:on("stream", hello)
      local port = H.listen(server)
      for _, mode in ipairs({ "silent", "preface" }) do
        local r = slowloris(port, mode, 200, 0.05, 20)
        assert.equal(200, r.closed, mode .. ": " .. r.raw)
        assert.equal(0, r.goaway, mode .. ": " .. r.raw)
        assert.truthy(closed_between(r, 0.3, 5), mode .. ": " .. r.raw)
      end
      assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000))
    end, 60000)
  end)

  it("HTTP/1.1 slowloris: 300 connections trickling a request head get 408 and are closed by headersTimeout (1 s; within 8 s), RSS + < 40 MiB, a good client served meanwhile (p50 < 50 ms)", function()
    H.run(function()
      local server = http2.createServer({ allowHTTP1 = true, headersTimeout = 1000 }, function(req, res)
        res:finish("hello")
      end)
      local port = H.listen(server)
      local url = "http://127.0.0.1:" .. port .. "/"
      local r, p50, grown, raw = under_attack(port, "h1head", 300, 0.1, 20, url, "--http1.1")
      assert.equal(300, r.closed, raw)
      assert.equal(300, r.status408, raw)
      assert.truthy(closed_between(r, 1.0, 8), raw)
      assert.truthy(p50 < 50, "good client p50 " .. p50 .. " ms")
      assert.truthy(grown < 40 * 1024, "RSS grew by " .. grown .. " KiB")
      assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000))
    end, 90000)
  end)

  it("TLS connections that never send a ClientHello: 300 closed by handshakeTimeout (1 s; within 8 s) with 'tlsClientError' ERR_TLS_HANDSHAKE_TIMEOUT, RSS + < 40 MiB, a good client served meanwhile (p50 < 50 ms)", function()
    H.run(function()
      local server = http2.createSecureServer({ key = H.readfile(PKI .. "/server-key.pem"),
        cert = H.readfile(PKI .. "/server.pem"), handshakeTimeout = 1000 })
      server:on("stream", hello)
      local codes = {}
      server:on("tlsClientError", function(err) codes[err.code] = (codes[err.code] or 0) + 1 end)
      local port = H.listen(server)
      local url = "https://localhost:" .. port .. "/"
      local r, p50, grown, raw = under_attack(port, "silent", 300, 0.1, 20, url,
        "--http2 --cacert " .. PKI .. "/ca.pem --resolve localhost:" .. port .. ":127.0.0.1")
      assert.equal(300, r.closed, raw)
      assert.truthy(closed_between(r, 1.0, 8), raw)
      assert.truthy(p50 < 50, "good client p50 " .. p50 .. " ms")
      assert.truthy(grown < 40 * 1024, "RSS grew by " .. grown .. " KiB")
      assert.truthy(H.wait_until(function() return (codes.ERR_TLS_HANDSHAKE_TIMEOUT or 0) == 300 end, 2000),
        "tlsClientError codes: " .. require("h2lua.json").encode(codes))
      assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000))
    end, 90000)
  end)

  it("idle sessions (no open stream): HTTP/2 ones get GOAWAY, HTTP/1.1 keep-alive ones are closed, after keepAliveTimeout (0.3 s) and before 0.3 + headersTimeout (0.5 s) + 2 s", function()
    H.run(function()
      local server = http2.createServer({ allowHTTP1 = true, keepAliveTimeout = 300, headersTimeout = 500 },
        function(req, res) res:finish("hello") end)
      local port = H.listen(server)
      local r = slowloris(port, "h2idle", 100, 0.05, 20)
      assert.equal(100, r.closed, r.raw)
      assert.equal(100, r.goaway, r.raw)
      assert.truthy(closed_between(r, 0.3, 2.8), r.raw)
      r = slowloris(port, "h1idle", 100, 0.05, 20)
      assert.equal(100, r.closed, r.raw)
      assert.truthy(closed_between(r, 0.3, 2.8), r.raw)
      assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000))
    end, 60000)
  end)

  it("an open stream is not idle: a response that takes 1.2 s on a session with keepAliveTimeout and headersTimeout 0.3 s arrives whole (curl --max-time 10)", function()
    H.run(function()
      local server = http2.createServer({ allowHTTP1 = true, keepAliveTimeout = 300, headersTimeout = 300 },
        function(req, res)
          res:write("slow ")
          h2lua.sleep(1200)
          res:finish("answer")
        end)
      local port = H.listen(server)
      for _, args in ipairs({ "--http2-prior-knowledge", "--http1.1" }) do
        local rc, out, err = H.sh("curl -sS --max-time 10 " .. args .. " http://127.0.0.1:" .. port .. "/")
        assert.equal(0, rc, err)
        assert.equal("slow answer", out)
      end
    end, 30000)
  end)

  it("0 turns each off: a silent peer and an idle HTTP/2 session stay open 1 s with every timeout 0", function()
    H.run(function()
      local server = http2.createServer({ handshakeTimeout = 0, prefaceTimeout = 0, headersTimeout = 0,
        keepAliveTimeout = 0 })
      server:on("stream", hello)
      local port = H.listen(server)
      for _, mode in ipairs({ "silent", "h2idle" }) do
        local r = slowloris(port, mode, 5, 0.05, 1)
        assert.equal(0, r.closed, mode .. ": " .. r.raw)
      end
    end, 30000)
  end)
end)
