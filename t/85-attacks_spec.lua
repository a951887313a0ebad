-- Hostile peers: memory and CPU stay bounded, and a good client keeps
-- being served, under one attacker at a time on loopback. Each attack
-- runs for a few seconds against a fresh server process
-- (t/fixtures/attack-server.lua, default options, HTTP/2 and HTTP/1.1 on
-- one port), so that its peak RSS is the attack's; t/clients/attacks.py is
-- both the attacker and the harness: it samples the server's /proc entry
-- and runs the good client (a new curl request every 0.5 s, 3 s limit)
-- during the attack. Then the limits behind these answers, one by one,
-- with an in-process server.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local MiB = 1024 * 1024
local SECS = 3             -- each attack
local RSS_BOUND = 64 * MiB -- growth of the server's peak RSS
local P50_BOUND = 50       -- ms, the good client's median

-- Runs |cmd| to completion (no loop runs here) and returns its output.
local function run(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end

-- Starts a fresh server (under |prefix|, e.g. prlimit), runs attack |mode|
-- for SECS with the good client speaking |proto| ("h2" or "h1"), and
-- returns what the harness measured:
-- {growth=, cpu=, n=, ok=, p50=, max=, attack={key=value}, lines=, server=}
local function attack(mode, proto, prefix, after)
  local proc = H.start("t/fixtures/attack-server.lua", "", prefix)
  local port = H.wait_output(proc, "listening on (%d+)", 20)
  if not port then
    local out, err = H.stop(proc)
    error("the server did not start: " .. out .. err)
  end
  local out = run(string.format("timeout -k 2 40 %s %s/attacks.py drive %s %d %s %g %s 2>&1",
    H.PY, H.CLIENTS, port, proc.pid, mode, SECS, proto or "h2"))
  local r = { lines = out, attack = {} }
  if after then r.after = after(port) end
  r.server = H.stop(proc)
  local before, peak = out:match("rss_before (%d+)"), out:match("rss_peak (%d+)")
  assert(before and peak, "no measurement: " .. out)
  r.growth = tonumber(peak) - tonumber(before)
  r.cpu = tonumber(out:match("cpu ([%d.]+)"))
  local n, ok, p50, max = out:match("good (%d+) (%d+) ([%d.-]+) ([%d.-]+)")
  r.n, r.ok, r.p50, r.max = tonumber(n), tonumber(ok), tonumber(p50), tonumber(max)
  for line in out:gmatch("attack ([^\n]*)") do
    for k, v in line:gmatch("(%S+)=(%S+)") do r.attack[k] = v end
  end
  r.msg = string.format("RSS grew by %.1f MiB, server CPU %.2f s, good client %s/%s, p50 %s ms, max %s ms\n%s\nserver: %s",
    r.growth / MiB, r.cpu or -1, tostring(r.ok), tostring(r.n), tostring(r.p50), tostring(r.max), out,
    r.server:sub(1, 400))
  return r
end

-- RST_STREAM codes the attacker received: {code = count}
local function rsts(r)
  local t = {}
  for code, n in (r.attack.rst or ""):gmatch("(%d+):(%d+)") do t[tonumber(code)] = tonumber(n) end
  return t
end

local function count(s, pattern)
  local _, n = s:gsub(pattern, "")
  return n
end

-- The bounds every attack is held to.
local function bounded(r)
  assert.is_true(r.growth < RSS_BOUND, r.msg)
  assert.is_true(r.n >= 4, r.msg)
  assert.equal(r.n, r.ok, r.msg)
  assert.is_true(r.p50 < P50_BOUND, r.msg)
end

describe("under attack (3 s each, a fresh server, good client every 0.5 s)", function()
  it("HPACK bomb (a 4000-byte table entry referenced 120 times per 150-byte request): every such stream reset with ENHANCE_YOUR_CALM, RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("hpack-bomb")
    bounded(r)
    assert.is_true((rsts(r)[11] or 0) > 100, r.msg)
    assert.equal("1", r.attack.headers, r.msg) -- only the first request, with the entry, was answered
  end)

  it("header blocks of 75 KB in HEADERS + CONTINUATIONs: reset with ENHANCE_YOUR_CALM (maxHeaderListSize 65535), RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("big-headers")
    bounded(r)
    assert.is_true((rsts(r)[11] or 0) > 10, r.msg)
    assert.equal("0", r.attack.headers, r.msg)
  end)

  it("HTTP/1.1 requests with 100 KB of header fields: 431 each, RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("h1-big-headers", "h1")
    bounded(r)
    local sent = tonumber(r.attack.sent)
    assert.is_true(sent > 10, r.msg)
    assert.equal("431:" .. sent, r.attack.statuses, r.msg)
  end)

  it("HTTP/1.1 pipelined HEADs from a client that never reads (184 MB in 3 s before): RSS growth < 64 MiB, good p50 < 50 ms", function()
    -- how soon the client stalls (the server stopped reading) depends on
    -- how fast the server fills the socket's buffers: not asserted
    local r = attack("h1-pipeline", "h1")
    bounded(r)
    assert.is_true(tonumber(r.attack.sent) > 10000, r.msg)
  end)

  it("readAll() of a 3 GiB HTTP/1.1 upload: ERR_BUFFER_TOO_LARGE at 16 MiB, 413, RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("h1-readall", "h1")
    bounded(r)
    assert.equal("413", r.attack.status, r.msg)
    assert.truthy(r.server:find("readall ERR_BUFFER_TOO_LARGE", 1, true), r.msg)
  end)

  it("8 handlers writing 100 MiB each, ignoring write() == false, to a peer that opens no window: each stopped with ERR_H2LUA_WRITE_BUFFER_FULL and reset, RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("ignore-write")
    bounded(r)
    assert.equal(8, rsts(r)[2], r.msg) -- INTERNAL_ERROR
    assert.equal(8, count(r.server, "ignore ERR_H2LUA_WRITE_BUFFER_FULL"), r.msg)
  end)

  it("a zero-window reader of 100 streams of 16 MiB each: nothing sent, RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("zero-window")
    bounded(r)
    assert.equal("100", r.attack.headers, r.msg)
    assert.equal("0", r.attack.data, r.msg)
  end)

  it("SETTINGS flood from a client that reads the ACKs: GOAWAY(ENHANCE_YOUR_CALM), server CPU < 1.5 s of the 3 s, RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("settings-flood")
    bounded(r)
    assert.equal("11", r.attack.goaway, r.msg)
    assert.is_true(r.cpu < 1.5, r.msg)
  end)

  it("empty DATA frames without END_STREAM: counted as invalid frames, GOAWAY(ENHANCE_YOUR_CALM) past maxSessionInvalidFrames, server CPU < 1.5 s of the 3 s, RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("empty-data")
    bounded(r)
    assert.equal("11", r.attack.goaway, r.msg)
    assert.is_true(r.cpu < 1.5, r.msg)
  end)

  it("PING flood from a client that reads the ACKs: GOAWAY(ENHANCE_YOUR_CALM) past 1000 PINGs a second, server CPU < 1.5 s of the 3 s, RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("ping-read")
    bounded(r)
    assert.equal("11", r.attack.goaway, r.msg)
    local acks = tonumber(r.attack.acks) -- those read before the GOAWAY
    assert.is_true(acks > 500 and acks <= 1000, r.msg)
    assert.is_true(r.cpu < 1.5, r.msg)
  end)

  it("PING flood from a client that never reads: the session ends, RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("ping-flood")
    bounded(r)
    assert.equal("1", r.attack.eof, r.msg)
  end)

  it("Rapid Reset (CVE-2023-44487, HEADERS then RST_STREAM, back to back): GOAWAY, RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("rapid-reset")
    bounded(r)
    assert.is_not.equal("none", r.attack.goaway, r.msg)
  end)

  it("CONTINUATION flood (CVE-2024-27316, a header block that never ends): GOAWAY, RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("continuation")
    bounded(r)
    assert.is_not.equal("none", r.attack.goaway, r.msg)
  end)

  it("WINDOW_UPDATE flood: RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("window-flood")
    bounded(r)
    assert.is_true(tonumber(r.attack.sent) > 1000, r.msg)
  end)

  it("PRIORITY flood on ever new idle streams: RSS growth < 64 MiB, good p50 < 50 ms", function()
    local r = attack("priority-flood")
    bounded(r)
    assert.is_true(tonumber(r.attack.sent) > 1000, r.msg)
  end)

  it("out of descriptors (RLIMIT_NOFILE 64, 400 connections held 3 s): server CPU < 0.5 s of the 3 s, and it serves again once they close", function()
    local r = attack("emfile", "h2", "prlimit --nofile=64 --", function(port)
      return run("curl -s -m 5 --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
    end)
    assert.is_true(tonumber(r.attack.opened) > 64, r.msg)
    assert.is_true(r.cpu < 0.5, r.msg)
    assert.equal("ok", r.after, r.msg)
  end)
end)

describe("under valgrind", function()
  it("the attacks that hit the new limits, and a header block cut short by the peer's close: 0 errors, nothing lost, exit 0 on SIGTERM (60 s bounds)", function()
    local log = os.tmpname()
    local proc = H.start("t/fixtures/attack-server.lua", "", string.format(H.VALGRIND, log))
    local port = H.wait_output(proc, "listening on (%d+)", 60)
    if not port then H.stop(proc) os.remove(log) end
    assert.is_not_nil(port, "server did not start under valgrind")
    local outs = {}
    for _, mode in ipairs({ "hpack-bomb", "big-headers", "settings-flood", "empty-data", "ignore-write", "h1-readall" }) do
      outs[#outs + 1] = mode .. ": " .. run(string.format("timeout -k 2 30 %s %s/attacks.py attack %s %s 1.5 2>&1",
        H.PY, H.CLIENTS, port, mode))
    end
    -- fields of a block that never ends, then the peer goes: they were
    -- nghttp2's buffers, freed after the session
    outs[#outs + 1] = run(H.PY .. " " .. H.CLIENTS .. "/h2raw.py " .. port ..
      " 'preface; settings; settings-ack; headers 1 noend-headers x-a=1; wait 0.2; close' 2>&1")
    local after = run("curl -s -m 10 --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
    os.execute("kill -TERM " .. proc.pid)
    local status = H.status(proc, 60)
    H.stop(proc)
    local report = H.readfile(log) or ""
    os.remove(log)
    local all = table.concat(outs, "")
    assert.equal("ok", after, all)
    assert.truthy(all:find("settings%-flood: attack [^\n]*goaway=11"), all)
    assert.truthy(all:find("empty%-data: attack [^\n]*goaway=11"), all)
    H.assert_valgrind_clean(report)
    assert.equal(0, status, report)
  end)
end)

-------------------------------------------------------------------------------
-- The limits, one by one
-------------------------------------------------------------------------------

-- h2raw.py actions for one request on stream 1 whose header block holds
-- |nfields| fields of |size| bytes of value, one per frame.
local function big_request(nfields, size)
  local v = string.rep("v", size)
  local acts = { "preface; settings; settings-ack; headers 1 end noend-headers x-f0=" .. v }
  for i = 1, nfields - 1 do
    acts[#acts + 1] = ("cont 1 %sx-f%d=%s"):format(i == nfields - 1 and "end-headers " or "", i, v)
  end
  if nfields == 1 then acts[1] = "preface; settings; settings-ack; headers 1 end x-f0=" .. v end
  return table.concat(acts, "; ") .. "; wait 0.3"
end

local function h2raw(port, actions)
  local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2raw.py " .. port .. " " .. H.shq(actions), 20)
  assert.equal(0, rc, err)
  return out
end

describe("limits", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  local function server(opts, handler)
    local s = http2.createServer(opts, handler or function(req, res)
      res:finish("fields " .. #(req.rawHeaders or {}) // 2)
    end)
    return s, H.listen(s)
  end

  it("900 PINGs in one burst (under the 1000 a second that end a session): every one ACKed, and a request after them answered", function()
    H.run(function()
      local s, port = server({})
      local out = h2raw(port, "preface; settings; settings-ack; " ..
        string.rep("ping; ", 900) .. "headers 1 end; wait 0.5")
      s:close()
      assert.equal(900, count(out, "PING stream=0 flags=1"), out:sub(1, 300))
      assert.truthy(out:find("HEADERS stream=1 flags=4 len=%d+ :status=200"), out:sub(-300))
      assert.is_nil(out:find("GOAWAY", 1, true))
    end)
  end)

  it("maxHeaderListSize (default 65535): a 64 KB block is answered, a 70 KB one reset with ENHANCE_YOUR_CALM before the handler runs", function()
    H.run(function()
      local calls = 0
      local s, port = server({}, function(req, res) calls = calls + 1 res:finish("ok") end)
      -- 4 fields of 16000: 64 128 octets with the 32 each counts
      local ok = h2raw(port, big_request(4, 16000))
      assert.truthy(ok:find("HEADERS stream=1 flags=%d+ len=%d+ :status=200"), ok)
      local over = h2raw(port, big_request(5, 14000))
      assert.truthy(over:find("RST_STREAM stream=1 flags=0 len=4 code=11", 1, true), over)
      assert.falsy(over:find(":status=", 1, true), over)
      assert.equal(1, calls)
    end)
  end)

  it("settings.maxHeaderListSize = 200 000: a 90 KB block is answered; = 1000: a 2 KB one is reset (HTTP/2) and 431 (HTTP/1.1)", function()
    H.run(function()
      local _, port = server({ settings = { maxHeaderListSize = 200000 } })
      local out = h2raw(port, big_request(6, 15000))
      assert.truthy(out:find(":status=200", 1, true), out)
      local _, port2 = server({ allowHTTP1 = true, settings = { maxHeaderListSize = 1000 } })
      local small = h2raw(port2, big_request(1, 500))
      assert.truthy(small:find(":status=200", 1, true), small)
      local big = h2raw(port2, big_request(2, 1000))
      assert.truthy(big:find("code=11", 1, true), big)
      local rc, code = H.sh("curl -s -o /dev/null -w '%{http_code}' --http1.1 -H 'x-big: " ..
        string.rep("b", 2000) .. "' http://127.0.0.1:" .. port2 .. "/")
      assert.equal("431", code)
      local rc2, code2 = H.sh("curl -s -o /dev/null -w '%{http_code}' --http1.1 -H 'x-small: b' http://127.0.0.1:" .. port2 .. "/")
      assert.equal("200", code2)
    end)
  end)

  it("HTTP/1.1 keeps Node's 16 KiB header limit by default, and takes a larger maxHeaderListSize (40 KB answered with 65535)", function()
    H.run(function()
      local _, port = server({ allowHTTP1 = true })
      local big = "-H 'x-big: " .. string.rep("b", 40000) .. "' "
      local _, c1 = H.sh("curl -s -o /dev/null -w '%{http_code}' --http1.1 " .. big .. "http://127.0.0.1:" .. port .. "/")
      assert.equal("431", c1)
      local _, port2 = server({ allowHTTP1 = true, settings = { maxHeaderListSize = 65535 } })
      local _, c2 = H.sh("curl -s -o /dev/null -w '%{http_code}' --http1.1 " .. big .. "http://127.0.0.1:" .. port2 .. "/")
      assert.equal("200", c2)
    end)
  end)

  it("session:settings({maxHeaderListSize=}) applies to the blocks that follow", function()
    H.run(function()
      local s = http2.createServer()
      s:on("session", function(session) session:settings({ maxHeaderListSize = 100 }) end)
      s:on("stream", function(st) st:respond() st:finish("ok") end)
      local port = H.listen(s)
      local out = h2raw(port, "preface; settings; settings-ack; wait 0.2; headers 1 end x-a=" .. string.rep("a", 200) .. "; wait 0.3")
      assert.truthy(out:find("RST_STREAM stream=1 flags=0 len=4 code=11", 1, true), out)
    end)
  end)

  it("HEADERS and 6 CONTINUATIONs whose frame headers arrive split across reads: answered (nghttp2 1.52 counted each twice against its 8)", function()
    H.run(function()
      local _, port = server({})
      local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/attacks.py attack " .. port .. " split-headers 1", 20)
      assert.equal(0, rc, err)
      assert.truthy(out:find("attack headers=1 goaway=none", 1, true), out)
    end)
  end)

  it("readAll([{limit=}]): nil and ERR_BUFFER_TOO_LARGE past the limit, the body within it; a bad limit raises", function()
    H.run(function()
      local results = {}
      local _, port = server({}, function(req, res)
        if req.headers["x-limit"] == "bad" then
          for _, opt in ipairs({ 5, { limit = -1 }, { limit = "x" } }) do
            local ok, e = pcall(req.readAll, req, opt)
            results[#results + 1] = ok and "no error" or e.code
          end
          res:finish("done")
          return
        end
        local limit = tonumber(req.headers["x-limit"])
        local body, err = req:readAll(limit and { limit = limit } or nil)
        results[#results + 1] = body and ("body " .. #body) or (err.code .. " " .. err.name)
        res:finish("done")
      end)
      local base = "curl -s --http2-prior-knowledge --data-binary @- http://127.0.0.1:" .. port .. "/"
      H.sh("head -c 1000 /dev/zero | " .. base .. " -H 'x-limit: 1000'")
      H.sh("head -c 1001 /dev/zero | " .. base .. " -H 'x-limit: 1000'")
      H.sh("head -c " .. (16 * MiB + 1) .. " /dev/zero | " .. base)
      H.sh("head -c " .. (16 * MiB) .. " /dev/zero | " .. base)
      H.sh("curl -s --http2-prior-knowledge -H 'x-limit: bad' http://127.0.0.1:" .. port .. "/")
      assert.same({ "body 1000", "ERR_BUFFER_TOO_LARGE RangeError", "ERR_BUFFER_TOO_LARGE RangeError",
        "body " .. 16 * MiB, "ERR_INVALID_ARG_TYPE", "ERR_OUT_OF_RANGE", "ERR_INVALID_ARG_TYPE" }, results)
    end)
  end)

  it("write() after false without 'drain': up to 1 MiB more is buffered, then ERR_H2LUA_WRITE_BUFFER_FULL and the stream reset (INTERNAL_ERROR); a handler waiting for 'drain' sends 4 MiB whole", function()
    H.run(function()
      local got = {}
      local s = http2.createServer()
      s:on("stream", function(st, headers)
        st:respond()
        local chunk = string.rep("w", 65536)
        if headers[":path"] == "/polite" then
          for _ = 1, 64 do
            if not st:write(chunk) then st:wait("drain") end
          end
          st:finish()
          return
        end
        local writes, err = 0, nil
        local ok, e = pcall(function()
          for _ = 1, 100 do
            st:write(chunk)
            writes = writes + 1
          end
        end)
        got.ok, got.err, got.writes, got.closed = ok, e, writes, st.closed
      end)
      local port = H.listen(s)
      local out = h2raw(port, "preface; settings 4=0; settings-ack; headers 1 end :path=/ignore; wait 0.5")
      assert.truthy(out:find("RST_STREAM stream=1 flags=0 len=4 code=2", 1, true), out)
      assert.is_false(got.ok)
      assert.equal("ERR_H2LUA_WRITE_BUFFER_FULL", got.err.code)
      -- the first write returned false; 16 more of 64 KiB make 1 MiB
      assert.equal(17, got.writes)
      assert.is_true(got.closed)
      local rc, n = H.sh("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port .. "/polite | wc -c")
      assert.equal(4 * MiB, tonumber(n))
    end)
  end)
end)
