-- Node.js's test/parallel/http2 files from n to z about settings, header
-- blocks and status codes, checked the way h2lua spells them.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local C = http2.constants

local raw = H.raw
local serve = H.serve
local connect = H.connect

describe("Node test/parallel/http2 (n-z): settings and headers", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("session-settings.js: localSettings/remoteSettings have every field (maxHeaderSize too), kept until changed; the events carry each frame's settings", function()
    H.run(function()
      local checked
      local server, port = serve(nil, function(st)
        local s = st.session
        local l, r = s.localSettings, s.remoteSettings
        for _, t in ipairs({ l, r }) do
          assert.is_number(t.headerTableSize)
          assert.is_boolean(t.enablePush)
          assert.is_number(t.initialWindowSize)
          assert.is_number(t.maxFrameSize)
          assert.is_number(t.maxConcurrentStreams)
          assert.is_number(t.maxHeaderListSize)
          assert.equal(t.maxHeaderListSize, t.maxHeaderSize)
        end
        assert.equal(l, s.localSettings) -- the same table until a SETTINGS changes it
        assert.equal(r, s.remoteSettings)
        assert.equal(123456, r.initialWindowSize)
        assert.is_false(r.enablePush)
        checked = true
        st:respond({ ["content-type"] = "text/html" })
        st:finish("hello world")
      end)
      server:on("session", function(s) s:settings({ maxConcurrentStreams = 2 }) end)
      local client = connect(port, { settings = { enablePush = false, initialWindowSize = 123456 } })
      local locals, remotes = {}, {}
      client:on("localSettings", function(s) locals[#locals + 1] = s end)
      client:on("remoteSettings", function(s) remotes[#remotes + 1] = s.maxConcurrentStreams end)
      local req = client:request({ [":path"] = "/" })
      assert.is_true(client.pendingSettingsAck)
      local ok = false
      client:settings({ maxHeaderListSize = 1000 }, function(err) ok = err == nil end)
      for _, bad in ipairs({ { "headerTableSize", -1 }, { "headerTableSize", 2 ^ 32 },
        { "initialWindowSize", -1 }, { "initialWindowSize", 2 ^ 32 }, { "maxFrameSize", 16383 },
        { "maxFrameSize", 2 ^ 24 }, { "maxHeaderListSize", -1 }, { "maxHeaderListSize", 2 ^ 32 },
        { "maxHeaderSize", -1 }, { "maxHeaderSize", 2 ^ 32 } }) do
        local okc, e = pcall(client.settings, client, { [bad[1]] = bad[2] })
        assert.is_false(okc)
        assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", e.code)
        assert.equal("RangeError", e.name)
        assert.truthy(e.message:find('Invalid value for setting "' .. bad[1] .. '"', 1, true))
      end
      for _, bad in ipairs({ 1, {}, "test" }) do
        local okc, e = pcall(client.settings, client, { enablePush = bad })
        assert.is_false(okc)
        assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", e.code)
        assert.equal("TypeError", e.name)
      end
      assert(req:wait("response", 5000))
      req:readAll()
      assert.is_true(H.wait_until(function() return ok and #locals >= 2 and #remotes >= 2 end, 3000))
      assert.is_true(checked)
      assert.is_false(locals[1].enablePush)
      assert.equal(123456, locals[1].initialWindowSize)
      assert.equal(16384, locals[1].maxFrameSize)
      assert.equal(1000, locals[2].maxHeaderListSize)
      assert.equal(1000, locals[2].maxHeaderSize)
      assert.equal(1000, client.localSettings.maxHeaderSize)
      -- the server's first SETTINGS (h2lua advertises 100 streams), then its settings() of 2
      assert.same({ 100, 2 }, remotes)
      client:close()
      server:close()
    end)
  end)

  it("the 'remoteSettings' of two SETTINGS frames read at once carry each frame's own values", function()
    H.run(function()
      local got = {}
      local server, port = serve()
      server:on("session", function(s)
        s:on("remoteSettings", function(st) got[#got + 1] = st.initialWindowSize .. "/" .. st.maxHeaderSize end)
      end)
      local rc = raw(port, "preface; settings 4=1000 6=5000; settings 4=2000; settings 6=7000; wait 0.3")
      assert.equal(0, rc)
      assert.same({ "1000/5000", "2000/5000", "2000/7000" }, got)
      server:close()
    end)
  end)

  it("server-push-disabled.js: the client's enablePush=false arrives; pushAllowed is false and pushStream raises ERR_HTTP2_PUSH_DISABLED", function()
    H.run(function()
      local remote_push, allowed, err
      local server, port = serve(nil, function(st)
        allowed = st.pushAllowed
        local ok, e = pcall(st.pushStream, st, { [":path"] = "/foobar" }, function() end)
        err = not ok and e
        st:respond({ [":status"] = 200 })
        st:finish("test")
      end)
      server:on("session", function(s)
        s:on("remoteSettings", function(st) remote_push = st.enablePush end)
      end)
      local client = connect(port, { settings = { enablePush = false } })
      local pushed = false
      client:on("stream", function() pushed = true end)
      local req = client:request({ [":path"] = "/" })
      assert(req:wait("response", 5000))
      assert.equal("test", req:readAll())
      assert.is_false(remote_push)
      assert.is_false(allowed)
      assert.equal("ERR_HTTP2_PUSH_DISABLED", err.code)
      assert.equal("Error", err.name)
      assert.is_false(pushed)
      client:close()
      server:close()
    end)
  end)

  it("options-max-headers-block-length.js: a request over maxSendHeaderBlockLength: 'frameError' with FRAME_SIZE_ERROR, the stream errors with it", function()
    H.run(function()
      local streams = 0
      local server, port = serve(nil, function() streams = streams + 1 end)
      local client = connect(port, { maxSendHeaderBlockLength = 10 })
      local req = client:request({})
      local frame, err, response
      req:on("frameError", function(ftype, code) frame = { ftype, code } end)
      req:on("error", function(e) err = e end)
      req:on("response", function() response = true end)
      assert(req:wait("close", 5000))
      assert.same({ 1, C.NGHTTP2_FRAME_SIZE_ERROR }, frame)
      assert.equal("ERR_HTTP2_STREAM_ERROR", err.code)
      assert.equal("Stream closed with error code NGHTTP2_FRAME_SIZE_ERROR", err.message)
      assert.is_nil(response)
      assert.equal(0, streams)
      client:close()
      server:close()
    end)
  end)

  it("too-large-headers.js: a request over the server's maxHeaderListSize or maxHeaderSize is reset with ENHANCE_YOUR_CALM", function()
    H.run(function()
      for _, name in ipairs({ "maxHeaderListSize", "maxHeaderSize" }) do
        local streams = 0
        local server, port = serve({ settings = { [name] = 100 } }, function() streams = streams + 1 end)
        local client = connect(port)
        assert(client:wait("remoteSettings", 5000))
        local req = client:request({ foo = string.rep("a", 1000) })
        local err
        req:on("error", function(e) err = e end)
        assert(req:wait("close", 5000))
        assert.equal(C.NGHTTP2_ENHANCE_YOUR_CALM, req.rstCode)
        assert.equal("Stream closed with error code NGHTTP2_ENHANCE_YOUR_CALM", err and err.message)
        assert.equal(0, streams)
        client:close()
        server:close()
      end
    end)
  end)

  it("too-many-headers.js: maxHeaderListPairs 0 counts as 4; a request with five fields is reset with ENHANCE_YOUR_CALM", function()
    H.run(function()
      local streams = 0
      local server, port = serve({ maxHeaderListPairs = 0 }, function() streams = streams + 1 end)
      local client = connect(port)
      local req = client:request({ foo = "bar" })
      local err
      req:on("error", function(e) err = e end)
      assert(req:wait("close", 5000))
      assert.equal(C.NGHTTP2_ENHANCE_YOUR_CALM, req.rstCode)
      assert.equal("ERR_HTTP2_STREAM_ERROR", err and err.code)
      assert.equal(0, streams)
      client:close()
      server:close()
    end)
  end)

  it("too-many-streams.js: with maxConcurrentStreams 1 the server never holds two streams at once", function()
    H.run(function()
      local open, most, total = 0, 0, 0
      local server, port = serve({ settings = { maxConcurrentStreams = 1 } }, function(st)
        open = open + 1
        total = total + 1
        most = math.max(most, open)
        st:respond()
        h2lua.sleep(20)
        st:finish("ok")
        open = open - 1
      end)
      local client = connect(port)
      assert(client:wait("remoteSettings", 5000))
      assert.equal(1, client.remoteSettings.maxConcurrentStreams)
      local reqs = {}
      for i = 1, 3 do reqs[i] = client:request({}) end
      for i = 1, 3 do
        assert(reqs[i]:wait("response", 5000))
        assert.equal("ok", reqs[i]:readAll())
      end
      assert.equal(3, total)
      assert.equal(1, most)
      client:destroy()
      server:close()
    end)
  end)

  it("settings-unsolicited-ack.js: a second SETTINGS ACK is a protocol error: GOAWAY(PROTOCOL_ERROR) from nghttp2, and the session's 'error' ERR_HTTP2_ERROR 'Protocol error' as Node (since CVE-2025-23085's fix; Node 20 does the same)", function()
    H.run(function()
      local remote, streams, errs, server_errs, closed = 0, 0, {}, {}, false
      local server, port = serve(nil, function() streams = streams + 1 end)
      server:on("session", function(s)
        s:on("remoteSettings", function() remote = remote + 1 end)
        s:on("error", function(e) errs[#errs + 1] = e end)
        s:on("close", function() closed = true end)
      end)
      server:on("sessionError", function(e) server_errs[#server_errs + 1] = e end)
      local rc, out = raw(port, "preface; settings; settings-ack; settings-ack; wait 0.3")
      assert.equal(0, rc)
      assert.truthy(out:find("GOAWAY stream=0 flags=0 len=%d+ last=0 code=1"), out)
      assert.is_true(H.wait_until(function() return closed end, 2000))
      assert.equal(1, remote)
      assert.equal(0, streams)
      assert.equal(1, #errs)
      assert.equal("ERR_HTTP2_ERROR", errs[1].code)
      assert.equal("Protocol error", errs[1].message)
      assert.equal(1, #server_errs)
      server:close()
    end)
  end)

  it("update-settings.js: server:updateSettings validates (ERR_INVALID_ARG_TYPE, ERR_HTTP2_INVALID_SETTING_VALUE) and new sessions get the settings", function()
    H.run(function()
      local server, port = serve()
      local ok, e = pcall(server.updateSettings, server, "")
      assert.is_false(ok)
      assert.equal("ERR_INVALID_ARG_TYPE", e.code)
      assert.equal("TypeError", e.name)
      ok, e = pcall(server.updateSettings, server, { maxHeaderListSize = "foo" })
      assert.is_false(ok)
      assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", e.code)
      assert.equal('Invalid value for setting "maxHeaderListSize": foo', e.message)
      assert.equal("RangeError", e.name)
      server:updateSettings({ enablePush = false, headerTableSize = 1, initialWindowSize = 1,
        maxFrameSize = 16385, enableConnectProtocol = true })
      local client = connect(port)
      local s = client:wait("remoteSettings", 5000)
      assert.is_false(s.enablePush)
      assert.equal(1, s.headerTableSize)
      assert.equal(1, s.initialWindowSize)
      assert.equal(16385, s.maxFrameSize)
      assert.is_true(s.enableConnectProtocol)
      client:close()
      server:close()
    end)
  end)

  it("getUnpackedSettings with validate turns booleans into booleans before validating (any non-zero enablePush is true)", function()
    local u = http2.getUnpackedSettings(string.pack(">I2I4>I2I4", 2, 7, 8, 1), { validate = true })
    assert.is_true(u.enablePush)
    assert.is_true(u.enableConnectProtocol)
    local ok, e = pcall(http2.getUnpackedSettings, string.pack(">I2I4", 5, 16383), { validate = true })
    assert.is_false(ok)
    assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", e.code)
  end)

  it("single-headers.js and util-headers-list.js: one field under two spellings, or a list, for a single-value name raises ERR_HTTP2_HEADER_SINGLE_VALUE", function()
    H.run(function()
      local server, port = serve()
      local client = connect(port)
      for _, name in ipairs({ "content-type", "user-agent", "referer", "authorization",
        "proxy-authorization", "if-modified-since", "if-unmodified-since", "from", "location",
        "max-forwards" }) do
        for _, headers in ipairs({ { [name] = "abc", [name:upper()] = "xyz" }, { [name] = { "abc", "xyz" } } }) do
          local ok, e = pcall(client.request, client, headers)
          assert.is_false(ok)
          assert.equal("ERR_HTTP2_HEADER_SINGLE_VALUE", e.code)
          assert.equal("TypeError", e.name)
          assert.equal('Header field "' .. name .. '" must only have a single value', e.message)
        end
      end
      client:close()
      server:close()
    end)
  end)

  it("util-headers-list.js: ':status' and ':statuS' in one response raise ERR_HTTP2_HEADER_SINGLE_VALUE", function()
    H.run(function()
      local err
      local server, port = serve(nil, function(st)
        local ok, e = pcall(st.respond, st, { [":status"] = 200, [":statuS"] = 204 })
        err = not ok and e
        st:respond()
        st:finish()
      end)
      local client = connect(port)
      local req = client:request({})
      assert.equal(200, req:wait("response", 5000)[":status"])
      assert.equal("ERR_HTTP2_HEADER_SINGLE_VALUE", err and err.code)
      assert.equal('Header field ":status" must only have a single value', err.message)
      client:close()
      server:close()
    end)
  end)

  it("util-headers-list.js: numbers and lists are sent as fields, empty lists skipped, names lower-cased; connection headers refused", function()
    H.run(function()
      local got, errs = nil, {}
      local server, port = serve(nil, function(st, headers)
        got = headers
        st:respond()
        st:finish()
      end)
      local client = connect(port)
      local req = client:request({ abc = 1, xyz = { 1, "2", 3, 4 }, foo = {}, BAR = { 1 },
        ["set-cookie"] = { "foo=bar" }, te = "trailers", host = "abc" })
      assert(req:wait("response", 5000))
      assert.equal("1", got.abc)
      assert.equal("1, 2, 3, 4", got.xyz)
      assert.is_nil(got.foo)
      assert.equal("1", got.bar)
      assert.same({ "foo=bar" }, got["set-cookie"])
      assert.equal("trailers", got.te)
      for _, name in ipairs({ "connection", "upgrade", "http2-settings", "te", "transfer-encoding",
        "proxy-connection", "keep-alive", "Connection", "TE", "Keep-Alive" }) do
        local ok, e = pcall(client.request, client, { [name] = "abc" })
        assert.is_false(ok)
        errs[#errs + 1] = e.code
        assert.equal('HTTP/1 Connection specific headers are forbidden: "' .. name:lower() .. '"', e.message)
      end
      for _, code in ipairs(errs) do assert.equal("ERR_HTTP2_INVALID_CONNECTION_HEADERS", code) end
      local ok, e = pcall(client.request, client, { te = { "abc", "trailers" } })
      assert.is_false(ok)
      assert.equal("ERR_HTTP2_INVALID_CONNECTION_HEADERS", e.code)
      client:close()
      server:close()
    end)
  end)

  it("util-assert-valid-pseudoheader.js: ':foo' raises ERR_HTTP2_INVALID_PSEUDOHEADER", function()
    H.run(function()
      local err
      local server, port = serve(nil, function(st)
        local ok, e = pcall(st.respond, st, { [":foo"] = "a" })
        err = not ok and e
        st:respond()
        st:finish()
      end)
      local client = connect(port)
      local ok, e = pcall(client.request, client, { [":foo"] = "a" })
      assert.is_false(ok)
      assert.equal("ERR_HTTP2_INVALID_PSEUDOHEADER", e.code)
      assert.equal("TypeError", e.name)
      assert.equal('":foo" is an invalid pseudoheader or is used incorrectly', e.message)
      local req = client:request({ [":path"] = "/a", [":method"] = "GET", [":scheme"] = "http",
        [":authority"] = "a" })
      assert(req:wait("response", 5000))
      assert.equal("ERR_HTTP2_INVALID_PSEUDOHEADER", err and err.code)
      client:close()
      server:close()
    end)
  end)

  it("zero-length-header.js: an empty name is not sent, an empty value is; received headers always have a sensitiveHeaders list", function()
    H.run(function()
      local got
      local server, port = serve(nil, function(st, headers)
        got = headers
        st:respond()
        st:finish()
      end)
      local client = connect(port)
      local req = client:request({ [":path"] = "/", [""] = "foo", bar = "" })
      local rh = req:wait("response", 5000)
      local keys = {}
      for k in pairs(got) do keys[#keys + 1] = k end
      table.sort(keys)
      assert.same({ ":authority", ":method", ":path", ":scheme", "bar" }, keys)
      assert.equal("", got.bar)
      assert.same({}, got[http2.sensitiveHeaders])
      assert.same({}, rh[http2.sensitiveHeaders])
      client:close()
      server:close()
    end)
  end)

  it("sensitive-headers.js: names in sensitiveHeaders (any case) and short cookies go never-indexed; the client lists them", function()
    H.run(function()
      local server, port = serve(nil, function(st)
        st:respond({ ["content-type"] = "text/html", [":status"] = 200, cookie = "donotindex",
          ["not-sensitive"] = "foo", sensitive = "bar", [http2.sensitiveHeaders] = { "Sensitive" } })
        st:finish("<h1>Hello World</h1>")
      end)
      local client = connect(port)
      local req = client:request({ [":path"] = "/" })
      local h = req:wait("response", 5000)
      assert.equal(200, h[":status"])
      assert.equal("donotindex", h.cookie)
      local list = h[http2.sensitiveHeaders]
      table.sort(list)
      assert.same({ "cookie", "sensitive" }, list)
      client:close()
      server:close()
    end)
  end)

  it("sent-headers.js: sentInfoHeaders, sentHeaders (with :status and date), sentTrailers; a request's sentHeaders", function()
    H.run(function()
      local info, sent, trailers
      local server, port = serve(nil, function(st)
        st:additionalHeaders({ [":status"] = 102 })
        info = st.sentInfoHeaders[1][":status"]
        st:respond({ abc = "xyz" }, { waitForTrailers = true })
        st:on("wantTrailers", function() st:sendTrailers({ xyz = "abc" }) end)
        sent = { st.sentHeaders.abc, st.sentHeaders[":status"], st.sentHeaders.date }
        st:on("close", function() trailers = st.sentTrailers and st.sentTrailers.xyz end)
        st:finish()
      end)
      local client = connect(port)
      local req = client:request({})
      local early
      req:on("headers", function(h, flags) early = { h[":status"], math.type(flags) } end)
      assert.equal("GET", req.sentHeaders[":method"])
      assert.equal("127.0.0.1:" .. port, req.sentHeaders[":authority"])
      assert.equal("http", req.sentHeaders[":scheme"])
      assert.equal("/", req.sentHeaders[":path"])
      req:readAll()
      assert(req:wait("close", 5000))
      assert.is_true(H.wait_until(function() return trailers end, 2000))
      assert.equal(102, info)
      assert.equal("xyz", sent[1])
      assert.equal(200, sent[2])
      assert.is_string(sent[3])
      assert.equal("abc", trailers)
      assert.same({ 102, "integer" }, early)
      client:close()
      server:close()
    end)
  end)

  it("status-code.js: each :status given with endStream reaches the client", function()
    H.run(function()
      local codes = { 200, 202, 300, 400, 404, 451, 500 }
      local i = 0
      local server, port = serve(nil, function(st)
        i = i + 1
        st:respond({ [":status"] = codes[i] }, { endStream = true })
      end)
      local client = connect(port)
      for n = 1, #codes do
        local req = client:request({})
        assert.equal(codes[n], req:wait("response", 5000)[":status"])
        assert.equal("", req:readAll())
      end
      client:close()
      server:close()
    end)
  end)

  it("status-code-invalid.js: statuses below 100 or above 599 raise ERR_HTTP2_STATUS_INVALID (RangeError)", function()
    H.run(function()
      local errs = {}
      local server, port = serve(nil, function(st)
        for _, s in ipairs({ 99, 700, 1000 }) do
          local ok, e = pcall(st.respond, st, { [":status"] = s })
          errs[#errs + 1] = not ok and (e.code .. "|" .. e.name .. "|" .. e.message)
        end
        st:respond()
        st:finish()
      end)
      local client = connect(port)
      local req = client:request({})
      assert.equal(200, req:wait("response", 5000)[":status"])
      assert.same({ "ERR_HTTP2_STATUS_INVALID|RangeError|Invalid status code: 99",
        "ERR_HTTP2_STATUS_INVALID|RangeError|Invalid status code: 700",
        "ERR_HTTP2_STATUS_INVALID|RangeError|Invalid status code: 1000" }, errs)
      client:close()
      server:close()
    end)
  end)

  it("response-splitting.js: a value with CR or LF never reaches the wire (h2lua raises ERR_HTTP2_INVALID_HEADER_VALUE)", function()
    H.run(function()
      local errs = {}
      local server, port = serve(nil, function(st)
        for _, v in ipairs({ "bar\r\nContent-Length: 0", "foo\nSet-Cookie: foo=bar" }) do
          local ok, e = pcall(st.respond, st, { [":status"] = 302, location = v })
          errs[#errs + 1] = not ok and e.code
        end
        st:respond({ foo = "foo\226\180\138Set-Cookie: foo=bar" }) -- U+0D0A in UTF-8: no CR/LF byte
        st:finish()
      end)
      local client = connect(port)
      local req = client:request({})
      local h = req:wait("response", 5000)
      assert.same({ "ERR_HTTP2_INVALID_HEADER_VALUE", "ERR_HTTP2_INVALID_HEADER_VALUE" }, errs)
      assert.is_nil(h.location)
      assert.is_nil(h["set-cookie"])
      assert.equal("foo\226\180\138Set-Cookie: foo=bar", h.foo)
      client:close()
      server:close()
    end)
  end)
end)
