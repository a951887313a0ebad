-- Http2Session and Http2Stream beyond the basics: settings, ping, state,
-- windows, timeouts, goaway, the socket proxy, limits options, metrics.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local P = "preface; settings; settings-ack; "

local raw = H.raw

-- A server whose first session is handed to |fn| (in its own coroutine).
local function with_session(fn, options)
  local server = http2.createServer(options)
  server:on("stream", function(stream, headers)
    if headers[":path"] == "/slow" then h2lua.sleep(300) end
    if not stream.destroyed then
      stream:respond()
      stream:finish("ok")
    end
  end)
  local got
  server:on("session", function(s) got = s end)
  local port = H.listen(server)
  return server, port, function()
    H.wait_until(function() return got end, 5000)
    return got
  end
end

describe("sessions", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("emit 'connect', 'remoteSettings' and 'localSettings'; pendingSettingsAck follows the ACK", function()
    H.run(function()
      local events, pending_at_session = {}, nil
      local server = http2.createServer()
      server:on("session", function(s)
        pending_at_session = s.pendingSettingsAck
        s:on("connect", function() events[#events + 1] = "connect" end)
        s:on("remoteSettings", function(st) events[#events + 1] = "remote:" .. tostring(st.initialWindowSize) end)
        s:on("localSettings", function(st)
          events[#events + 1] = "local:" .. tostring(st.maxConcurrentStreams) .. ":" .. tostring(s.pendingSettingsAck)
        end)
      end)
      server:on("stream", function(st) st:respond() st:finish() end)
      local port = H.listen(server)
      local rc, out = raw(port, "preface; settings 4=70000; wait 0.2; settings-ack; wait 0.2")
      assert.equal(0, rc)
      assert.truthy(out:find("SETTINGS stream=0 flags=1", 1, true)) -- our ACK of theirs
      assert.is_true(pending_at_session)
      assert.same({ "connect", "remote:70000", "local:100:false" }, events)
    end)
  end)

  it("a server advertises maxConcurrentStreams 100 unless its settings say otherwise (h2lua's default); getDefaultSettings() stays Node's", function()
    H.run(function()
      local function advertised(options, update)
        local server = http2.createServer(options)
        server:on("stream", function(st) st:respond() st:finish() end)
        local port = H.listen(server)
        if update then server:updateSettings(update) end
        local rc, out = raw(port, "preface; settings; wait 0.2")
        server:close()
        assert.equal(0, rc)
        local first = out:match("SETTINGS stream=0 flags=0[^\n]*")
        assert.truthy(first, out)
        return tonumber(first:match(" 3=(%d+)"))
      end
      assert.equal(100, advertised())
      assert.equal(100, advertised({ settings = { initialWindowSize = 1000 } }))
      assert.equal(100, advertised(nil, { initialWindowSize = 1000 }))
      assert.equal(7, advertised({ settings = { maxConcurrentStreams = 7 } }))
      assert.equal(4294967295, advertised({ settings = { maxConcurrentStreams = 4294967295 } }))
      assert.equal(9, advertised(nil, { maxConcurrentStreams = 9 }))
      assert.equal(4294967295, http2.getDefaultSettings().maxConcurrentStreams)
    end)
  end)

  it("settings() with a callback and in waiting form; the peer sees the values", function()
    H.run(function()
      local server, port, session = with_session()
      local got = {}
      h2lua.spawn(function()
        local rc, out = raw(port, "auto; preface; settings; wait 1.0")
        got.out = out
      end)
      local s = session()
      H.wait_until(function() return not s.pendingSettingsAck end, 5000)
      assert.is_false(s.pendingSettingsAck) -- the initial SETTINGS acknowledged
      -- invalid values are refused before anything is sent
      local ok, e = pcall(s.settings, s, { maxFrameSize = 1 }, function() end)
      assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", e.code)
      ok, e = pcall(s.settings, s, { enablePush = "yes" }, function() end)
      assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", e.code)
      local cb_args
      s:settings({ maxConcurrentStreams = 33 }, function(err, st, d)
        cb_args = { err, st.maxConcurrentStreams, type(d) }
      end)
      assert.is_true(s.pendingSettingsAck)
      local err, st, d = s:settings({ initialWindowSize = 99999 })
      assert.is_nil(err)
      assert.equal(99999, st.initialWindowSize)
      assert.is_true(d >= 0)
      assert.same({ nil, 33, "number" }, cb_args)
      assert.is_false(s.pendingSettingsAck)
      assert.equal(33, s.localSettings.maxConcurrentStreams)
      H.wait_until(function() return got.out end, 5000)
      assert.truthy(got.out:find("SETTINGS stream=0 flags=0 len=6 3=33", 1, true), got.out)
      assert.truthy(got.out:find("SETTINGS stream=0 flags=0 len=6 4=99999", 1, true), got.out)
    end)
  end)

  it("enableConnectProtocol turned off once on is sent as asked (the peer's to refuse, as in Node; t/66-node-gaps_spec.lua)", function()
    H.run(function()
      local server, port, session = with_session(nil, { settings = { enableConnectProtocol = true } })
      local out
      h2lua.spawn(function() local _, o = raw(port, P .. "wait 0.5") out = o end)
      local s = session()
      s:settings({ enableConnectProtocol = false }, function() end)
      assert.truthy(H.wait_until(function() return out ~= nil end, 3000))
      assert.truthy(out:find("SETTINGS stream=0 flags=0 len=%d+ 8=0"), out)
    end)
  end)

  it("ping() round-trips: callback, waiting form, payload checks, maxOutstandingPings", function()
    H.run(function()
      local server, port, session = with_session(nil, { maxOutstandingPings = 2 })
      local peer
      h2lua.spawn(function() local _, out = raw(port, "auto; preface; settings; wait 0.8") peer = out end)
      local s = session()
      local err, d, payload = s:ping("12345678")
      assert.is_nil(err)
      assert.equal("12345678", payload)
      assert.is_true(d >= 0)
      local ok, e = pcall(s.ping, s, "1234567", function() end)
      assert.equal("ERR_HTTP2_PING_LENGTH", e.code)
      assert.equal("RangeError", e.name)
      local results = {}
      for i = 1, 3 do
        results[i] = s:ping(function(perr) results["cb" .. i] = perr and perr.code or "ok" end)
      end
      assert.same({ true, true, false }, { results[1], results[2], results[3] })
      H.wait_until(function() return results.cb1 and results.cb2 and results.cb3 end, 5000)
      assert.equal("ok", results.cb1)
      assert.equal("ok", results.cb2)
      assert.equal("ERR_HTTP2_PING_CANCEL", results.cb3)
      H.wait_until(function() return peer end, 5000)
      assert.truthy(peer:find("PING stream=0 flags=0 len=8 payload=3132333435363738", 1, true))
    end)
  end)

  it("emits 'ping' for the peer's PING and answers it", function()
    H.run(function()
      local server, port = with_session()
      local got
      server:on("session", function(s) s:on("ping", function(p) got = p end) end)
      local rc, out = raw(port, P .. "ping pingpong; wait 0.3")
      assert.equal(0, rc)
      assert.truthy(out:find("PING stream=0 flags=1 len=8 payload=" .. ("pingpong"):gsub(".", function(c) return ("%02x"):format(c:byte()) end), 1, true))
      H.wait_until(function() return got end, 3000)
      assert.equal("pingpong", got)
    end)
  end)

  it("state has every field; setLocalWindowSize changes it and validates", function()
    H.run(function()
      local server, port, session = with_session()
      local peer
      h2lua.spawn(function() local _, out = raw(port, P .. "wait 0.5") peer = out end)
      local s = session()
      local st = s.state
      for _, k in ipairs({ "effectiveLocalWindowSize", "effectiveRecvDataLength", "nextStreamID",
        "localWindowSize", "lastProcStreamID", "remoteWindowSize", "outboundQueueSize",
        "deflateDynamicTableSize", "inflateDynamicTableSize" }) do
        assert.is_number(st[k], k)
      end
      assert.equal(65535, st.localWindowSize)
      s:setLocalWindowSize(1000000)
      assert.equal(1000000, s.state.localWindowSize)
      local ok, e = pcall(s.setLocalWindowSize, s, -1)
      assert.equal("ERR_OUT_OF_RANGE", e.code)
      ok, e = pcall(s.setLocalWindowSize, s, "x")
      assert.equal("ERR_INVALID_ARG_TYPE", e.code)
      H.wait_until(function() return peer end, 5000)
      assert.truthy(peer:find("WINDOW_UPDATE stream=0 flags=0 len=4 incr=934465", 1, true), peer)
    end)
  end)

  it("goaway() with opaque data reaches the peer; the socket refuses raw I/O", function()
    H.run(function()
      local server, port, session = with_session()
      local peer
      h2lua.spawn(function() local _, out = raw(port, P .. "headers 1 end; wait 0.5") peer = out end)
      local s = session()
      local ok, e = pcall(s.socket.write, s.socket, "x")
      assert.equal("ERR_HTTP2_NO_SOCKET_MANIPULATION", e.code)
      assert.equal("127.0.0.1", s.socket.remoteAddress)
      assert.is_nil(s.originSet)
      local ok2, e2 = pcall(s.goaway, s, "x")
      assert.equal("ERR_INVALID_ARG_TYPE", e2.code)
      -- stream 1 is processed, so the GOAWAY names it as the last
      H.wait_until(function() return s.state.lastProcStreamID == 1 end, 2000)
      s:goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 1, "bye now")
      H.wait_until(function() return peer end, 5000)
      assert.truthy(peer:find("GOAWAY stream=0 flags=0 len=15 last=1 code=11 data=bye now", 1, true), peer)
    end)
  end)

  it("'goaway' from the peer is emitted with code, last stream id and data", function()
    H.run(function()
      local server, port = with_session()
      local got
      server:on("session", function(s)
        s:on("goaway", function(...) got = { ... } end)
      end)
      raw(port, P .. "goaway 0 0; wait 0.2")
      H.wait_until(function() return got end, 3000)
      assert.same({ 0, 0, "" }, got)
    end)
  end)

  it("setTimeout: 'timeout' after idleness; server timeout destroys idle sessions without listeners", function()
    H.run(function()
      local server, port, session = with_session()
      local fired
      h2lua.spawn(function()
        local s = session()
        s:setTimeout(100, function() fired = h2lua.now() end)
      end)
      local t0 = h2lua.now()
      raw(port, P .. "wait 0.4")
      assert.is_not_nil(fired)
      assert.is_true(fired - t0 >= 90)
    end)
    H.run(function()
      local server = http2.createServer()
      server:setTimeout(100)
      assert.equal(100, server.timeout)
      local closed
      server:on("session", function(s) s:on("close", function() closed = h2lua.now() end) end)
      local port = H.listen(server)
      local t0 = h2lua.now()
      local _, out = raw(port, P .. "wait 1.5")
      assert.is_not_nil(closed)
      assert.truthy(out:find("EOF", 1, true))
      assert.is_true(closed - t0 < 1000)
    end)
    H.run(function()
      local server = http2.createServer()
      local timeouts = 0
      server:setTimeout(80, function(s) timeouts = timeouts + 1 end)
      local port = H.listen(server)
      local _, out = raw(port, P .. "wait 0.5")
      assert.is_true(timeouts >= 1)
      assert.falsy(out:find("EOF", 1, true)) -- a listener: the session lives on
    end)
  end)

  it("updateSettings() changes what new sessions are sent", function()
    H.run(function()
      local server = http2.createServer({ settings = { maxConcurrentStreams = 5 } })
      local port = H.listen(server)
      server:updateSettings({ initialWindowSize = 12345 })
      local _, out = raw(port, P .. "wait 0.2")
      assert.truthy(out:find("3=5", 1, true), out)
      assert.truthy(out:find("4=12345", 1, true), out)
      local ok, e = pcall(server.updateSettings, server, { maxFrameSize = 5 })
      assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", e.code)
      ok, e = pcall(server.updateSettings, server, 5)
      assert.equal("ERR_INVALID_ARG_TYPE", e.code)
    end)
  end)
end)

describe("streams", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("state, priority() validation, sentInfoHeaders and sentTrailers", function()
    H.run(function()
      local server = http2.createServer()
      local seen = {}
      server:on("stream", function(stream)
        local st = stream.state
        seen.state = { st.state, st.weight, st.localClose, st.remoteClose, st.localWindowSize }
        local ok, e = pcall(stream.priority, stream, { weight = "x" })
        seen.e1 = e.code
        ok, e = pcall(stream.priority, stream, { parent = -1 })
        seen.e2 = e.code
        stream:priority({ weight = 32, silent = true })
        stream:additionalHeaders({ [":status"] = 103, link = "</x>" })
        stream:respond({}, { waitForTrailers = true })
        stream:on("wantTrailers", function()
          stream:sendTrailers({ ["x-t"] = "1" })
          seen.trailers = stream.sentTrailers
        end)
        stream:finish("body")
        seen.info = stream.sentInfoHeaders
        seen.sent = stream.sentHeaders
      end)
      local port = H.listen(server)
      local rc, out = H.sh("nghttp -v http://127.0.0.1:" .. port .. "/")
      assert.equal(0, rc)
      assert.same({ 6, 16, 0, 1, 65535 }, seen.state) -- half-closed (remote)
      assert.equal("ERR_INVALID_ARG_TYPE", seen.e1)
      assert.equal("ERR_OUT_OF_RANGE", seen.e2)
      assert.equal(1, #seen.info)
      assert.equal("</x>", seen.info[1].link)
      assert.equal(200, seen.sent[":status"])
      assert.is_string(seen.sent.date)
      assert.same({ ["x-t"] = "1" }, seen.trailers)
      assert.truthy(out:find("x-t: 1", 1, true))
    end)
  end)

  it("a peer reset with PROTOCOL_ERROR: 'aborted', 'error', then 'close'; CANCEL: no 'error'", function()
    H.run(function()
      local server = http2.createServer()
      local events = {}
      server:on("stream", function(stream, headers)
        local tag = headers[":path"]
        stream:on("aborted", function() events[#events + 1] = tag .. " aborted" end)
        stream:on("error", function(e) events[#events + 1] = tag .. " error " .. e.code .. " " .. e.message end)
        stream:on("close", function() events[#events + 1] = tag .. " close " .. stream.rstCode end)
      end)
      local port = H.listen(server)
      raw(port, P .. "headers 1 :path=/p :method=POST; headers 3 :path=/c :method=POST; wait 0.1; rst 1 1; rst 3 8; wait 0.2")
      H.wait_until(function() return #events >= 5 end, 3000)
      assert.same({ "/p aborted", "/p error ERR_HTTP2_STREAM_ERROR Stream closed with error code NGHTTP2_PROTOCOL_ERROR",
        "/p close 1", "/c aborted", "/c close 8" }, events)
    end)
  end)

  it("frames over maxSendHeaderBlockLength: 'frameError' with FRAME_SIZE_ERROR, then the stream closes with it", function()
    H.run(function()
      local server = http2.createServer({ maxSendHeaderBlockLength = 100 })
      local got
      server:on("stream", function(stream)
        stream:on("frameError", function(t, code, id) got = { t, code, id } end)
        stream:respond({ ["x-big"] = string.rep("a", 500) })
        stream:finish()
      end)
      local port = H.listen(server)
      local _, out = raw(port, P .. "headers 1 end; wait 0.3")
      assert.same({ 1, 6, 1 }, got) -- HEADERS, FRAME_SIZE_ERROR (Node's HTTP/2 code), stream 1
      assert.truthy(out:find("RST_STREAM stream=1 flags=0 len=4 code=6", 1, true), out)
    end)
  end)
end)

describe("createServer options", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("are validated", function()
    for _, o in ipairs({ { maxSessionMemory = -1 }, { maxHeaderListPairs = 1.5 },
      { paddingStrategy = 9 }, { peerMaxConcurrentStreams = 2 ^ 32 } }) do
      local ok, e = pcall(http2.createServer, o)
      assert.equal("ERR_OUT_OF_RANGE", e.code)
    end
    local ok, e = pcall(http2.createServer, { maxSettings = "5" })
    assert.equal("ERR_INVALID_ARG_TYPE", e.code)
  end)

  it("maxHeaderListPairs: a request with more fields is reset with ENHANCE_YOUR_CALM", function()
    H.run(function()
      local server = http2.createServer({ maxHeaderListPairs = 6 })
      local streams = 0
      server:on("stream", function(s) streams = streams + 1 s:respond() s:finish() end)
      local port = H.listen(server)
      local _, out = raw(port, P .. "headers 1 end a=1 b=2 c=3; wait 0.3; headers 3 end; wait 0.3")
      assert.truthy(out:find("RST_STREAM stream=1 flags=0 len=4 code=11", 1, true), out)
      assert.truthy(out:find("HEADERS stream=3", 1, true), out)
      assert.equal(1, streams)
    end)
  end)

  it("maxSessionInvalidFrames: past it the session ends with ENHANCE_YOUR_CALM", function()
    H.run(function()
      local server = http2.createServer({ maxSessionInvalidFrames = 2 })
      local port = H.listen(server)
      local acts = P
      for id = 1, 9, 2 do acts = acts .. "headers " .. id .. " end X-Upper=1; " end -- malformed requests
      local _, out = raw(port, acts .. "wait 0.3")
      assert.truthy(out:find("GOAWAY stream=0 flags=0 len=8 last=%d+ code=11"), out)
    end)
  end)

  it("maxSettings: a SETTINGS frame with more entries is refused", function()
    H.run(function()
      local server = http2.createServer({ maxSettings = 2 })
      local port = H.listen(server)
      local _, out = raw(port, "preface; settings 1=4096 3=100 4=65535; wait 0.3")
      assert.truthy(out:find("GOAWAY stream=0 flags=0 len=%d+ last=0 code=11"), out)
    end)
  end)

  it("paddingStrategy MAX and ALIGNED pad DATA frames", function()
    for strategy, check in pairs({
      [http2.constants.PADDING_STRATEGY_MAX] = function(len) return len > 200 end,
      [http2.constants.PADDING_STRATEGY_ALIGNED] = function(len) return (len + 9) % 8 == 0 end,
    }) do
      H.run(function()
        local server = http2.createServer({ paddingStrategy = strategy })
        server:on("stream", function(s) s:respond() s:finish("abc") end)
        local port = H.listen(server)
        local _, out = raw(port, P .. "headers 1 end; wait 0.3")
        local len, padded = out:match("DATA stream=1 flags=9 len=(%d+) padded=(%d+)")
        assert.is_not_nil(len, out)
        assert.is_true(check(tonumber(len)), "DATA length " .. tostring(len))
      end)
    end
  end)

  it("peerMaxConcurrentStreams and maxDeflateDynamicTableSize are applied", function()
    H.run(function()
      local server = http2.createServer({ maxDeflateDynamicTableSize = 0 })
      local table_size
      server:on("stream", function(s)
        s:respond({ ["x-long"] = string.rep("z", 100) })
        s:finish()
        table_size = s.session.state.deflateDynamicTableSize
      end)
      local port = H.listen(server)
      raw(port, P .. "headers 1 end; wait 0.2")
      assert.equal(0, table_size)
    end)
  end)

  it("maxSessionMemory: new streams are refused while the session is over it", function()
    H.run(function()
      local server = http2.createServer({ maxSessionMemory = 1 })
      local port = H.listen(server)
      -- a peer that never reads while we queue over 1 MiB of response
      server:on("stream", function(s, h)
        s:respond()
        if h[":path"] == "/big" then
          -- one write: writes that ignore false stop 1 MiB later (t/85)
          s:write(string.rep("b", 2 * 1024 * 1024))
        else
          s:finish("small")
        end
      end)
      local _, out = raw(port, P .. "headers 1 end :path=/big; wait 0.3; headers 3 end; wait 0.3")
      assert.truthy(out:find("RST_STREAM stream=3 flags=0 len=4 code=11", 1, true), out)
    end)
  end)
end)

describe("settings helpers", function()
  it("getDefaultSettings, getPackedSettings, getUnpackedSettings as in Node", function()
    local d = http2.getDefaultSettings()
    assert.same({ headerTableSize = 4096, enablePush = true, initialWindowSize = 65535,
      maxFrameSize = 16384, maxConcurrentStreams = 4294967295, maxHeaderListSize = 65535,
      maxHeaderSize = 65535, enableConnectProtocol = false }, d)
    local packed = http2.getPackedSettings({ headerTableSize = 1, enablePush = true,
      maxConcurrentStreams = 3, initialWindowSize = 4, maxFrameSize = 16384,
      maxHeaderListSize = 6, enableConnectProtocol = true })
    assert.equal("000100000001000200000001000300000003000400000004000500004000000600000006000800000001",
      (packed:gsub(".", function(c) return ("%02x"):format(c:byte()) end)))
    assert.equal("", http2.getPackedSettings())
    local u = http2.getUnpackedSettings(packed)
    assert.equal(3, u.maxConcurrentStreams)
    assert.is_true(u.enablePush)
    assert.equal(6, u.maxHeaderSize)
    local ok, e = pcall(http2.getUnpackedSettings, "12345")
    assert.equal("ERR_HTTP2_INVALID_PACKED_SETTINGS_LENGTH", e.code)
    assert.equal("RangeError", e.name)
    ok, e = pcall(http2.getPackedSettings, { maxFrameSize = 1 })
    assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", e.code)
    assert.equal('Invalid value for setting "maxFrameSize": 1', e.message)
    ok, e = pcall(http2.getUnpackedSettings, string.pack(">I2I4", 5, 1), { validate = true })
    assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", e.code)
    assert.equal(16384, http2.getUnpackedSettings(http2.getPackedSettings({ maxHeaderSize = 16384 })).maxHeaderListSize)
  end)
end)

describe("sensitive headers", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("authorization and short cookies go never-indexed on their own", function()
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(s)
        s:respond({ authorization = "Basic abc", cookie = "a=1", ["x-plain"] = "p" })
        s:finish()
      end)
      local port = H.listen(server)
      local _, out = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py get " .. port .. " /")
      assert.truthy(out:find("h authorization Basic abc [never]", 1, true), out)
      assert.truthy(out:find("h cookie a=1 [never]", 1, true), out)
      assert.truthy(out:find("h x-plain p\n", 1, true), out)
    end)
  end)
end)

describe("performance metrics", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("an observer gets Http2Stream and Http2Session entries with the right numbers", function()
    local entries = {}
    local obs = h2lua.PerformanceObserver.new(function(list)
      for _, e in ipairs(list:getEntries()) do entries[#entries + 1] = e end
    end)
    obs:observe({ entryTypes = { "http2" } })
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(s)
        local body = s:readAll()
        if s.id == 13 then assert(s.session:ping() == nil) end -- a ping RTT, for sure
        s:respond()
        s:finish(string.rep("r", 1000) .. body)
      end)
      local port = H.listen(server)
      local path = os.tmpname()
      H.writefile(path, string.rep("q", 300))
      assert.equal(0, (H.sh("nghttp -d " .. path .. " http://127.0.0.1:" .. port .. "/ http://127.0.0.1:" .. port .. "/b")))
      os.remove(path)
      H.wait_until(function() return #entries >= 3 end, 10000)
    end)
    obs:disconnect()
    local streams, session = {}, nil
    for _, e in ipairs(entries) do
      assert.equal("http2", e.entryType)
      if e.name == "Http2Stream" then streams[#streams + 1] = e else session = e end
    end
    assert.equal(2, #streams)
    for _, st in ipairs(streams) do
      assert.equal(300, st.bytesRead)
      assert.equal(1300, st.bytesWritten)
      assert.is_true(st.timeToFirstHeader >= 0)
      assert.is_true(st.timeToFirstByte >= st.timeToFirstHeader)
      assert.is_true(st.timeToFirstByteSent >= st.timeToFirstByte)
      assert.is_true(st.duration >= st.timeToFirstByteSent)
      assert.is_number(st.startTime)
      assert.is_true(st.id == 13 or st.id == 15)
    end
    assert.is_not_nil(session)
    assert.equal("server", session.type)
    assert.equal(2, session.streamCount)
    -- nghttp sends both requests at once, but the first may be done
    -- before the second is read: 1 or 2 were open together
    assert.is_true(session.maxConcurrentStreams == 1 or session.maxConcurrentStreams == 2)
    assert.is_true(session.framesReceived >= 6)
    assert.is_true(session.framesSent >= 6)
    assert.is_true(session.bytesRead > 600)
    assert.is_true(session.bytesWritten > 2600)
    assert.is_true(session.streamAverageDuration > 0)
    assert.is_number(session.pingRTT)
    assert.is_true(session.duration > 0)
  end)
end)

describe("flow control and floods", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("a 16-byte window carries a 1 MiB body byte-exact, both ways", function()
    H.run(function()
      local body = H.bytes(1024 * 1024, 11)
      local server = http2.createServer({ settings = { initialWindowSize = 16 } })
      local uploaded
      server:on("stream", function(s, h)
        if h[":method"] == "POST" then
          uploaded = s:readAll()
          s:respond()
          s:finish(tostring(#uploaded))
          return
        end
        s:respond()
        for i = 1, #body, 65536 do
          if not s:write(body:sub(i, i + 65535)) then s:wait("drain") end
        end
        s:finish()
      end)
      local port = H.listen(server)
      local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py download " .. port .. " /big 16", 120)
      assert.equal(0, rc, err)
      local n, frames, maxframe, sum = out:match("bytes (%d+) frames (%d+) maxframe (%d+) sha256 (%x+)")
      assert.equal(#body, tonumber(n))
      assert.equal(H.sha256(body), sum)
      assert.equal(16, tonumber(maxframe))
      assert.is_true(tonumber(frames) >= #body // 16)
      -- the other way: the server's window of 16 holds curl to 16 bytes a frame
      local path = os.tmpname()
      H.writefile(path, body)
      local rc2, out2 = H.sh("curl -sS --http2-prior-knowledge --data-binary @" .. path ..
        " http://127.0.0.1:" .. port .. "/up", 120)
      os.remove(path)
      assert.equal(0, rc2)
      assert.equal(tostring(#body), out2)
      assert.equal(H.sha256(body), H.sha256(uploaded))
    end, 120000)
  end)

  it("a peer flooding PING or SETTINGS loses its session; others are served", function()
    for _, kind in ipairs({ "ping", "settings" }) do
      H.run(function()
        local server = http2.createServer()
        server:on("stream", function(s) s:respond() s:finish("fine") end)
        local port = H.listen(server)
        local rc, out = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py flood " .. port .. " " .. kind .. " 1000000", 60)
        assert.equal(0, rc)
        assert.truthy(out:find("closed by the server", 1, true), out)
        local rc2, body = H.sh("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
        assert.equal(0, rc2)
        assert.equal("fine", body)
      end, 60000)
    end
  end)
end)
