-- Node.js's http2 tests from allow-http1.js to endafterheaders.js, the
-- client side: what each named Node file checks, in our Lua spelling, and
-- the departures from Node.js found while porting them (each fixed here).
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local pki = H.pki()
local PKI = pki.dir
local pem, key = pki.pem, pki.key

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return e
end

local function ok_server(opts)
  local server = http2.createServer(opts)
  local seen = {}
  server:on("stream", function(st, h)
    seen[#seen + 1] = h
    st:respond()
    st:finish("ok")
  end)
  return server, H.listen(server), seen
end

describe("node http2 tests allow-http1 .. endafterheaders (client)", function()
  setup(function()
    pki.make()
  end)
  teardown(pki.remove)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("connect.js: options.host and options.port win over the authority; a table authority defaults to https: and honours options.protocol", function()
    H.run(function()
      local server, port, seen = ok_server()
      local s = http2.connect("http://foo.bar", { host = "127.0.0.1", port = port })
      assert(s:wait("connect", 3000))
      local req = s:request({ [":path"] = "/" })
      assert.equal(200, req:wait("response", 3000)[":status"])
      req:readAll()
      assert.equal("foo.bar:80", seen[1][":authority"])
      s:close()
      -- a table without a protocol: https: unless options.protocol says
      local t = http2.connect({ hostname = "127.0.0.1", port = port }, { protocol = "http:" })
      assert.is_false(t.encrypted)
      assert(t:wait("connect", 3000))
      t:close()
      local tls = http2.createSecureServer({ key = key("server"), cert = pem("server") })
      tls:on("stream", function(st) st:respond() st:finish("secure") end)
      local tport = H.listen(tls)
      local u = http2.connect({ hostname = "localhost", port = tport }, { ca = pem("ca") })
      assert.is_true(u.encrypted)
      local r = u:request({ [":path"] = "/" })
      assert.equal(200, r:wait("response", 3000)[":status"])
      assert.equal("secure", r:readAll())
      assert.equal("https", r.sentHeaders[":scheme"])
      u:close()
      -- an unsupported protocol is refused at once
      assert.equal("ERR_HTTP2_UNSUPPORTED_PROTOCOL", err_of(http2.connect, "ssh://localhost").code)
      server:close()
      tls:close()
    end)
  end)

  it("connect-options.js: localAddress binds the client's end (127.0.0.2 to 127.0.0.1, plaintext and TLS)", function()
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(st)
        st:respond()
        st:finish(st.session.socket.remoteAddress)
      end)
      local port = H.listen(server)
      local s = http2.connect("http://localhost:" .. port, { localAddress = "127.0.0.2" })
      local req = s:request({ [":path"] = "/" })
      assert.equal(200, req:wait("response", 3000)[":status"])
      assert.equal("127.0.0.2", req:readAll())
      assert.equal("127.0.0.2", s.socket.localAddress)
      s:close()
      local tls = http2.createSecureServer({ key = key("server"), cert = pem("server") })
      tls:on("stream", function(st) st:respond() st:finish(st.session.socket.remoteAddress) end)
      local tport = H.listen(tls)
      local t = http2.connect("https://localhost:" .. tport, { ca = pem("ca"), localAddress = "127.0.0.3" })
      local r = t:request({ [":path"] = "/" })
      assert.equal(200, r:wait("response", 3000)[":status"])
      assert.equal("127.0.0.3", r:readAll())
      t:close()
      -- a literal that is no address, and a local address of no interface
      assert.equal("ERR_INVALID_IP_ADDRESS", err_of(http2.connect, "http://localhost:1", { localAddress = "nope" }).code)
      assert.equal("ERR_INVALID_ARG_TYPE", err_of(http2.connect, "http://localhost:1", { localAddress = 1 }).code)
      local bad = http2.connect("http://127.0.0.1:" .. port, { localAddress = "192.0.2.1" })
      local e = bad:wait("error", 3000)
      assert.equal("EADDRNOTAVAIL", e and e.code)
      local dns = http2.connect("http://no-such-host.invalid:" .. port, { localAddress = "127.0.0.2" })
      e = dns:wait("error", 10000)
      assert.equal("ENOTFOUND", e and e.code)
      server:close()
      tls:close()
    end)
  end)

  it("client-setNextStreamID-errors.js: checks of setNextStreamID, and ERR_HTTP2_OUT_OF_STREAMS past 2^31-1", function()
    H.run(function()
      local server, port, seen = ok_server()
      local s = http2.connect("http://127.0.0.1:" .. port)
      assert(s:wait("connect", 3000))
      local e = err_of(s.setNextStreamID, s, 2 ^ 32)
      assert.equal("ERR_OUT_OF_RANGE", e.code)
      assert.equal("RangeError", e.name)
      assert.equal('The value of "id" is out of range. It must be > 0 and <= 4294967295. Received 4294967296', e.message)
      assert.equal("ERR_OUT_OF_RANGE", err_of(s.setNextStreamID, s, 0).code)
      for _, v in ipairs({ true, {}, "1", function() end }) do
        e = err_of(s.setNextStreamID, s, v)
        assert.equal("ERR_INVALID_ARG_TYPE", e.code)
        assert.equal("TypeError", e.name)
      end
      s:setNextStreamID(41)
      local a = s:request({ [":path"] = "/a" })
      assert.equal(41, a.id)
      a:wait("response", 3000)
      a:readAll()
      s:setNextStreamID(2 ^ 31 - 1)
      local last = s:request({ [":path"] = "/last" })
      assert.equal(2 ^ 31 - 1, last.id)
      assert.equal(200, last:wait("response", 3000)[":status"])
      last:readAll()
      local over = s:request({ [":path"] = "/over" })
      assert.is_true(over.destroyed)
      local err
      over:on("error", function(x) err = x end)
      assert(over:wait("close", 3000))
      assert.equal("ERR_HTTP2_OUT_OF_STREAMS", err and err.code)
      assert.equal(2, #seen)
      s:close()
      e = err_of(s.setNextStreamID, s, 43)
      assert.equal("ERR_HTTP2_INVALID_SESSION", e.code)
      server:close()
    end)
  end)

  it("client-request-options-errors.js: the priority options' wrong types are ERR_INVALID_ARG_VALUE; client-set-priority.js: the weight is clamped to 1..256", function()
    H.run(function()
      local server = http2.createServer()
      local weights = {}
      server:on("stream", function(st, h)
        weights[h[":path"]] = st.state.weight
        st:respond()
        st:finish()
      end)
      local port = H.listen(server)
      local s = http2.connect("http://127.0.0.1:" .. port)
      assert(s:wait("connect", 3000))
      local connect = { [":method"] = "CONNECT", [":authority"] = "127.0.0.1:" .. port }
      local wrong = { true, "1", {}, function() end }
      for _, name in ipairs({ "weight", "parent", "exclusive", "silent" }) do
        for _, v in ipairs(wrong) do
          if not (type(v) == "boolean" and (name == "exclusive" or name == "silent")) then
            local e = err_of(s.request, s, connect, { [name] = v })
            assert.equal("ERR_INVALID_ARG_VALUE", e.code, name)
            assert.equal("TypeError", e.name)
            assert.truthy(e.message:find("options." .. name, 1, true))
          end
        end
      end
      assert.equal("ERR_INVALID_ARG_VALUE", err_of(s.request, s, connect, { exclusive = 1 }).code)
      assert.equal("ERR_INVALID_ARG_VALUE", err_of(s.request, s, connect, { parent = -1 }).code)
      assert.equal("ERR_INVALID_ARG_TYPE", err_of(s.request, s, connect, { endStream = 1 }).code)
      local cases = { [-1] = 1, [0] = 1, [1] = 1, [16] = 16, [256] = 256, [257] = 256, [512] = 256 }
      local reqs = {}
      for w in pairs(cases) do
        reqs[w] = s:request({ [":path"] = "/" .. w }, { weight = w })
      end
      local dflt = s:request({ [":path"] = "/default" })
      for _, r in pairs(reqs) do r:wait("response", 3000) r:readAll() end
      dflt:wait("response", 3000)
      for w, want in pairs(cases) do assert.equal(want, weights["/" .. w], "weight " .. w) end
      assert.equal(16, weights["/default"])
      s:close()
      server:close()
    end)
  end)

  it("client-rststream-before-connect.js: close() checks its code like Node (ERR_OUT_OF_RANGE for 2^32 and 1.01), resets before the socket is up", function()
    H.run(function()
      local server = http2.createServer()
      local reached = 0
      server:on("stream", function(st) reached = reached + 1 st:respond() st:finish("ok") end)
      local port = H.listen(server)
      local s = http2.connect("http://127.0.0.1:" .. port)
      local req = s:request()
      local e = err_of(req.close, req, 2 ^ 32)
      assert.equal("ERR_OUT_OF_RANGE", e.code)
      assert.equal('The value of "code" is out of range. It must be >= 0 && <= 4294967295. Received 4294967296', e.message)
      e = err_of(req.close, req, 1.01)
      assert.equal("ERR_OUT_OF_RANGE", e.code)
      assert.truthy(e.message:find("an integer", 1, true))
      assert.equal("ERR_INVALID_ARG_TYPE", err_of(req.close, req, "1").code)
      for _, v in ipairs({ true, 1, {}, "test" }) do
        assert.equal("ERR_INVALID_ARG_TYPE", err_of(req.close, req, 1, v).code)
        assert.is_false(req.closed)
      end
      local closed_cb, err, response = false, nil, false
      req:on("error", function(x) err = x end)
      req:on("response", function() response = true end)
      req:close(1, function() closed_cb = true end)
      assert.is_true(req.closed)
      req:close(2) -- a second call does nothing
      assert(req:wait("close", 3000))
      assert.is_true(closed_cb)
      assert.is_true(req.destroyed)
      assert.equal(1, req.rstCode)
      assert.equal("ERR_HTTP2_STREAM_ERROR", err and err.code)
      assert.equal("Stream closed with error code NGHTTP2_PROTOCOL_ERROR", err.message)
      assert.is_false(response)
      s:close()
      server:close()
    end)
  end)

  it("client-shutdown-before-connect.js: a request made before the socket connected, then close(): ERR_HTTP2_GOAWAY_SESSION, never at the server", function()
    H.run(function()
      local server, port, seen = ok_server()
      local s = http2.connect("http://127.0.0.1:" .. port)
      assert.is_true(s.connecting)
      local req = s:request({ [":path"] = "/early" })
      local err
      req:on("error", function(e) err = e end)
      local closed = false
      s:close(function() closed = true end)
      assert(req:wait("close", 3000))
      assert.equal("ERR_HTTP2_GOAWAY_SESSION", err and err.code)
      assert.is_true(H.wait_until(function() return closed end, 3000))
      h2lua.sleep(50)
      assert.equal(0, #seen)
      server:close()
    end)
  end)

  it("client streams (ClientHttp2Stream) have no server-only methods; stream.state has its numbers and 'ready' comes once the socket is up", function()
    H.run(function()
      local server, port = ok_server()
      local s = http2.connect("http://127.0.0.1:" .. port)
      local req = s:request({ [":path"] = "/" })
      for _, m in ipairs({ "respond", "pushStream", "respondWithFile", "respondWithFD", "additionalHeaders" }) do
        assert.is_nil(req[m], m)
      end
      assert.is_function(req.close)
      assert.is_function(req.priority)
      local connected_first, state
      req:on("ready", function()
        connected_first = not s.connecting
        state = req.state
      end)
      assert.equal(200, req:wait("response", 3000)[":status"])
      assert.is_true(connected_first)
      for _, k in ipairs({ "state", "weight", "sumDependencyWeight", "localClose", "remoteClose", "localWindowSize" }) do
        assert.is_number(state[k], k)
      end
      req:readAll()
      s:close()
      server:close()
    end)
  end)

  it("ORIGIN frames reach only TLS sessions, a 421 takes its origin out of originSet, origin() refuses a URL with no origin (foo://bar)", function()
    H.run(function()
      local server = http2.createServer({ origins = { "https://a.example" } })
      server:on("stream", function(st)
        local ss = st.session
        assert.equal("ERR_HTTP2_INVALID_ORIGIN", err_of(ss.origin, ss, "foo://bar").code)
        assert.equal("ERR_INVALID_URL", err_of(ss.origin, ss, "not a url").code)
        st:respond()
        st:finish("ok")
      end)
      local port = H.listen(server)
      local c = http2.connect("http://127.0.0.1:" .. port)
      local got = false
      c:on("origin", function() got = true end)
      local req = c:request({ [":path"] = "/" })
      req:wait("response", 3000)
      assert.equal("ok", req:readAll())
      h2lua.sleep(30)
      assert.is_false(got)
      assert.is_nil(c.originSet)
      c:close()
      server:close()

      local tls = http2.createSecureServer({ key = key("server"), cert = pem("server"),
        origins = { "https://a.example", "https://b.example:8443" } })
      tls:on("stream", function(st, h)
        st:respond({ [":status"] = h[":path"] == "/wrong" and 421 or 200 })
        st:finish()
      end)
      local tport = H.listen(tls)
      local t = http2.connect("https://localhost:" .. tport, { ca = pem("ca") })
      local origins
      t:on("origin", function(list) origins = list end)
      local r = t:request({ [":path"] = "/" })
      r:wait("response", 3000)
      r:readAll()
      assert.is_true(H.wait_until(function() return origins end, 3000))
      assert.same({ "https://localhost:" .. tport, "https://a.example", "https://b.example:8443" }, t.originSet)
      local w = t:request({ [":path"] = "/wrong", [":authority"] = "a.example" })
      assert.equal(421, w:wait("response", 3000)[":status"])
      w:readAll()
      assert.same({ "https://localhost:" .. tport, "https://b.example:8443" }, t.originSet)
      local w2 = t:request({ [":path"] = "/wrong" })
      w2:wait("response", 3000)
      w2:readAll()
      assert.same({ "https://b.example:8443" }, t.originSet)
      t:close()
      tls:close()
    end)
  end)

  it("altsvc.js: ALTSVC by origin (string or {origin=}) and by stream; the checks of alt and originOrStream", function()
    H.run(function()
      local server = http2.createServer()
      local checked
      server:on("stream", function(st)
        st.session:altsvc('h2=":8000"', st.id)
        st:respond()
        st:finish("ok")
      end)
      server:on("session", function(ss)
        ss:altsvc('h2=":8000"', "https://example.org:8111/this")
        ss:altsvc('h2=":8000"', { origin = "https://example.org:8111" })
        ss:altsvc('h2=":8000"', "https://EXAMPLE.org:8111")
        ss:altsvc('h2=":8000"', 3) -- no such stream: nothing arrives
        ss:altsvc('h2=":8000"', 2 ^ 32 - 1) -- a uint32 is accepted
        for _, v in ipairs({ 0, -1, 1.1, 2 ^ 32, math.huge, -math.huge }) do
          local e = err_of(ss.altsvc, ss, 'h2=":8000"', v)
          assert.equal("ERR_OUT_OF_RANGE", e.code)
          assert.equal("RangeError", e.name)
          assert.truthy(e.message:find('The value of "originOrStream" is out of range. It must be > 0 && < 4294967296. Received ', 1, true))
        end
        assert.truthy(err_of(ss.altsvc, ss, "x", 1.1).message:find("Received 1.1", 1, true))
        assert.truthy(err_of(ss.altsvc, ss, "x", math.huge).message:find("Received Infinity", 1, true))
        for _, v in ipairs({ 0, {}, math.huge, true }) do
          assert.equal("ERR_INVALID_ARG_TYPE", err_of(ss.altsvc, ss, v).code)
        end
        for _, v in ipairs({ "\1", 'h2="\xef\xbc\xa0"', "\xf0\x9f\x91\x80", "a\\b" }) do
          local e = err_of(ss.altsvc, ss, v)
          assert.equal("ERR_INVALID_CHAR", e.code)
          assert.equal("TypeError", e.name)
          assert.equal("Invalid character in alt", e.message)
        end
        ss:altsvc("\tclear") -- no origin, no stream: allowed, nothing sent
        for _, v in ipairs({ {}, true }) do
          assert.equal("ERR_INVALID_ARG_TYPE", err_of(ss.altsvc, ss, "clear", v).code)
        end
        for _, v in ipairs({ "abc:", { origin = "null" }, { origin = "" }, "foo://bar" }) do
          local e = err_of(ss.altsvc, ss, 'h2=":8000', v)
          assert.equal("ERR_HTTP2_ALTSVC_INVALID_ORIGIN", e.code)
          assert.equal("TypeError", e.name)
          assert.equal("HTTP/2 ALTSVC frames require a valid origin", e.message)
        end
        assert.equal("ERR_INVALID_URL", err_of(ss.altsvc, ss, "x", "not a url").code)
        local e = err_of(ss.altsvc, ss, 'h2=":8000"', "http://example." .. ("a"):rep(17000) .. ".org:8000")
        assert.equal("ERR_HTTP2_ALTSVC_LENGTH", e.code)
        assert.equal("HTTP/2 ALTSVC frames are limited to 16382 bytes", e.message)
        checked = true
      end)
      local port = H.listen(server)
      local c = http2.connect("http://localhost:" .. port)
      local alts = {}
      c:on("altsvc", function(alt, origin, id) alts[#alts + 1] = { alt, origin, id } end)
      local req = c:request()
      req:wait("response", 3000)
      assert.equal("ok", req:readAll())
      assert.is_true(H.wait_until(function() return #alts >= 4 end, 3000))
      h2lua.sleep(30)
      assert.is_true(checked)
      assert.equal(4, #alts)
      for i = 1, 3 do assert.same({ 'h2=":8000"', "https://example.org:8111", 0 }, alts[i]) end
      assert.same({ 'h2=":8000"', "", req.id }, alts[4])
      c:close()
      server:close()
    end)
  end)

  it("goaway(code, 0) names the last stream processed, as Node.js's default", function()
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(st)
        st:respond()
        st:finish("ok")
        st.session:goaway(0, 0)
      end)
      local port = H.listen(server)
      local c = http2.connect("http://127.0.0.1:" .. port)
      c:setNextStreamID(5)
      local last
      c:on("goaway", function(code, id) last = id end)
      local req = c:request()
      req:wait("response", 3000)
      req:readAll()
      assert.is_true(H.wait_until(function() return last end, 3000))
      assert.equal(5, last)
      c:destroy()
      server:close()
    end)
  end)

  it("a GOAWAY with an error code destroys the session before the frames after it in the same read", function()
    H.run(function()
      -- a raw server: after the client's first HEADERS, one write holds
      -- SETTINGS, GOAWAY(PROTOCOL_ERROR) and a response on stream 1
      local port, stop = H.start_listening(H.PY .. " -c " .. H.shq([[
import socket, struct, time
def frame(t, f, sid, p=b""):
    return struct.pack(">I", len(p))[1:] + bytes([t, f]) + struct.pack(">I", sid) + p
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(1)
print("listening", srv.getsockname()[1], flush=True)
c, _ = srv.accept(); c.settimeout(5)
c.recv(65536)
c.settimeout(0.3)
try:
    c.recv(65536)
except OSError:
    pass
c.sendall(frame(4, 0, 0) + frame(7, 0, 0, struct.pack(">II", 1, 1)) + frame(1, 5, 1, b"\x88"))
time.sleep(2)
]]))
      local c = http2.connect("http://127.0.0.1:" .. port)
      local events = {}
      c:on("goaway", function(code) events[#events + 1] = "goaway " .. code end)
      c:on("error", function(e) events[#events + 1] = "error " .. e.code end)
      local req = c:request({ [":path"] = "/" })
      req:on("response", function() events[#events + 1] = "response" end)
      req:on("error", function() end)
      local closed = c:wait("close", 5000)
      stop()
      assert(closed)
      assert.same({ "goaway 1", "error ERR_HTTP2_SESSION_ERROR" }, events)
    end)
  end)
  it("under valgrind: localAddress (bound, unresolvable, of no interface), a reset after written data, a request cancelled by close() before the connect: 0 errors, nothing lost (60 s bounds)", function()
    local log = os.tmpname()
    local app = os.tmpname() .. ".lua"
    H.writefile(app, [[
      local http2 = require "http2"
      local server = http2.createServer()
      server:on("stream", function(st) st:respond() st:write("x") st:destroy() end)
      server:listen(0, "127.0.0.1")
      server:wait("listening")
      local port = server:address().port
      local c = http2.connect("http://localhost:" .. port, { localAddress = "127.0.0.2" })
      local r = c:request()
      r:on("error", function() end)
      r:resume() -- reset with NO_ERROR (Node's destroy()): 'close' follows the 'end' of what arrived
      r:wait("close")
      for _, url in ipairs({ "http://no-such-host.invalid:" .. port, "http://localhost:" .. port }) do
        local d = http2.connect(url, { localAddress = url:find("invalid") and "127.0.0.2" or "192.0.2.7" })
        d:on("error", function() end)
        d:wait("close")
      end
      local f = http2.connect("http://localhost:" .. port)
      local q = f:request()
      q:on("error", function() end)
      f:close()
      q:wait("close")
      c:close()
      server:close()
      print("done")
    ]])
    local proc = H.start(app, "", string.format(H.VALGRIND, log))
    local rc = H.status(proc, 60)
    local out = H.stop(proc)
    local report = H.readfile(log) or ""
    os.remove(app)
    os.remove(log)
    assert.equal(0, rc, report)
    assert.equal("done\n", out)
    H.assert_valgrind_clean(report)
  end)
end)
