-- Node.js's http2 tests of the batch "e to m" about a stream's life: large
-- writes then close or destroy, many writes then destroy, refused and
-- misbehaving peers, session memory; and the lifecycle rules those files
-- rely on ('close' after the readable side's end, 'end' on a close,
-- 'aborted', data queued before a reset still sent). Every wait is
-- bounded.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"
local C = http2.constants

local url = H.url
local pki = H.pki()
local PKI = pki.dir
local pem, key = pki.pem, pki.key

local function secure_server()
  local server = http2.createSecureServer({ key = key("server"), cert = pem("server") })
  return server, H.listen(server)
end

local function secure_client(port, options)
  options = options or {}
  options.ca = pem("ca")
  return http2.connect("https://localhost:" .. port, options)
end

local frame, PREFACE = H.frame, H.PREFACE

describe("Node http2 tests e-m, stream lifecycle", function()
  setup(function()
    pki.make()
  end)
  teardown(pki.remove)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("large-write-close.js: write 2 x 100 kB, finish(), close() at once (TLS): the client gets every byte before 'close'", function()
    H.run(function()
      local content = string.rep("D", 100000)
      local server, port = secure_server()
      server:on("stream", function(st)
        st:respond({ ["Content-Type"] = "application/octet-stream",
          ["Content-Length"] = tostring(2 * #content), Vary = "Accept-Encoding" })
        st:write(content)
        st:write(content)
        st:finish()
        st:close()
      end)
      local client = secure_client(port)
      local req = client:request({ [":path"] = "/" })
      req:finish()
      local got, at_close = 0, nil
      req:on("data", function(c) got = got + #c end)
      req:on("close", function() at_close = got end)
      assert(req:wait("close", 10000))
      assert.equal(2 * #content, at_close)
      client:close()
      server:close()
    end)
  end)

  it("large-write-destroy.js: respond (waitForTrailers), write 60 000 bytes, destroy(): the client's stream closes, the bytes queued arrive", function()
    H.run(function()
      local content = string.rep("D", 60000)
      local server, port = secure_server()
      server:on("stream", function(st)
        st:respond({ ["Content-Type"] = "application/octet-stream",
          ["Content-Length"] = tostring(2 * #content) }, { waitForTrailers = true })
        st:write(content)
        st:destroy()
      end)
      local client = secure_client(port)
      local req = client:request({ [":path"] = "/" })
      req:finish()
      local got = 0
      req:on("data", function(c) got = got + #c end)
      req:on("error", function() end)
      assert(req:wait("close", 10000))
      assert.equal(#content, got)
      client:close()
      server:close()
    end)
  end)

  it("after a handler error once headers and body were written, the reset still lets the queued body out", function()
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(st)
        st:respond()
        st:write(string.rep("x", 30000))
        error("handler fails on purpose")
      end)
      local port = H.listen(server)
      local client = http2.connect(url(port))
      local req = client:request()
      local got, err = 0, nil
      req:on("data", function(c) got = got + #c end)
      req:on("error", function(e) err = e end)
      assert(req:wait("close", 5000))
      assert.equal(30000, got)
      assert.equal(C.NGHTTP2_INTERNAL_ERROR, req.rstCode)
      assert.equal("Stream closed with error code NGHTTP2_INTERNAL_ERROR", err and err.message)
      client:close()
      server:close()
    end)
  end)

  it("large-write-multiple-requests.js: 100 requests for a 150 kB body on one session (maxSessionMemory 1000) all arrive whole", function()
    H.run(function()
      local content = H.bytes(150000, 7)
      local server = http2.createServer({ maxSessionMemory = 1000 })
      server:on("stream", function(st)
        st:respond({ ["content-type"] = "image/jpeg", [":status"] = 200 })
        st:finish(content)
      end)
      local port = H.listen(server)
      local client = http2.connect(url(port))
      local finished, bad = 0, 0
      for _ = 1, 100 do
        local req = client:request({ [":path"] = "/" })
        req:finish()
        local parts = {}
        req:on("data", function(c) parts[#parts + 1] = c end)
        req:on("end", function()
          if table.concat(parts) ~= content then bad = bad + 1 end
          finished = finished + 1
        end)
      end
      assert(H.wait_until(function() return finished == 100 end, 30000))
      assert.equal(0, bad)
      client:close()
      server:close()
    end)
  end)

  it("large-writes-session-memory-leak.js: 50 streams of 200 kB one after another, client maxSessionMemory 1 (TLS): none refused", function()
    H.run(function()
      local data = string.rep("a", 200 * 1024)
      local server, port = secure_server()
      server:on("stream", function(st)
        st:write(data)
        st:finish()
      end)
      local client = secure_client(port, { maxSessionMemory = 1 })
      for i = 1, 50 do
        local req = client:request({ [":path"] = "/" })
        local got = 0
        req:on("data", function(c) got = got + #c end)
        assert(req:wait("close", 10000), "stream " .. i)
        assert.equal(#data, got)
        assert.equal(C.NGHTTP2_NO_ERROR, req.rstCode)
      end
      client:destroy()
      server:close()
    end)
  end)

  it("many-writes-and-destroy.js: 4000 small writes, then destroy() on the first echoed chunk: the request closes", function()
    H.run(function()
      local server = http2.createServer(function(req, res) req:pipe(res) end)
      local port = H.listen(server)
      local client = http2.connect(url(port))
      local req = client:request({ [":method"] = "POST" })
      for _ = 1, 4000 do req:write(string.rep("\0", 6)) end
      local closed = false
      req:on("close", function() closed = true end)
      req:once("data", function() req:destroy() end)
      assert(H.wait_until(function() return closed end, 10000))
      assert.is_true(req.destroyed)
      client:close()
      server:close()
    end)
  end)

  it("max-concurrent-streams.js: with maxConcurrentStreams 1 a second request is refused: 'aborted', REFUSED_STREAM, no response", function()
    H.run(function()
      local server = http2.createServer({ settings = { maxConcurrentStreams = 1 } })
      local handled = 0
      server:on("stream", function(st)
        handled = handled + 1
        st:respond()
        st:finish("hello world")
      end)
      local port = H.listen(server)
      local client = http2.connect(url(port))
      local remote
      client:on("remoteSettings", function(s) remote = s end)
      local ev1, ev2 = {}, {}
      local function track(req, ev)
        req:on("aborted", function() ev.aborted = true end)
        req:on("response", function() ev.response = true end)
        req:on("end", function() ev["end"] = true end)
        req:on("error", function(e) ev.err = e end)
        req:resume()
      end
      local r1 = client:request({ [":method"] = "POST" })
      track(r1, ev1)
      r1:finish()
      local r2 = client:request({ [":method"] = "POST" })
      track(r2, ev2)
      assert(r1:wait("close", 5000))
      assert(r2:wait("close", 5000))
      assert.equal(1, remote and remote.maxConcurrentStreams)
      assert.equal(1, handled)
      assert.same({ response = true, ["end"] = true }, ev1)
      assert.is_true(ev2.aborted)
      assert.is_nil(ev2.response)
      assert.is_nil(ev2["end"])
      assert.equal("ERR_HTTP2_STREAM_ERROR", ev2.err and ev2.err.code)
      assert.equal("Stream closed with error code NGHTTP2_REFUSED_STREAM", ev2.err.message)
      client:close()
      server:close()
    end)
  end)

  it("max-session-memory-leak.js: 1000 POSTs of 8 kB one after another, maxSessionMemory 1 on both sides, all answered", function()
    H.run(function()
      local server = http2.createServer({ maxSessionMemory = 1 })
      server:on("stream", function(st)
        st:respond()
        st:finish()
      end)
      local port = H.listen(server)
      local client = http2.connect(url(port), { maxSessionMemory = 1 })
      local body = string.rep("a", 8192)
      for i = 1, 1000 do
        local req = client:request({ [":method"] = "POST", ["content-length"] = #body })
        local err
        req:on("error", function(e) err = e end)
        req:finish(body)
        local h = req:wait("response", 5000)
        assert(h, "request " .. i .. ": " .. tostring(err))
        assert.equal(200, h[":status"])
      end
      client:close()
      server:close()
    end, 60000)
  end)

  it("forget-closed-streams.js: 10 000 POSTs one after another on a session with maxSessionMemory 1, each answered on its 'end'", function()
    H.run(function()
      local server = http2.createServer({ maxSessionMemory = 1 })
      server:on("session", function(session)
        session:on("stream", function(st)
          st:on("end", function() st:respond({ [":status"] = 200 }, { endStream = true }) end)
          st:resume()
        end)
      end)
      local port = H.listen(server)
      local client = http2.connect(url(port))
      for i = 1, 10000 do
        local req = client:request({ [":method"] = "POST" })
        req:finish()
        local h = req:wait("response", 5000)
        assert(h and h[":status"] == 200, "request " .. i)
        assert(req:wait("close", 5000), "request " .. i)
      end
      client:close()
      server:close()
    end, 120000)
  end)

  it("malformed-altsvc.js: an ALTSVC frame longer than the frame size does no harm; the server goes on serving", function()
    H.run(function()
      local server = http2.createServer()
      local streams = 0
      server:on("stream", function(st)
        streams = streams + 1
        st:respond()
        st:finish("still here")
      end)
      local port = H.listen(server)
      local sock = h2lua.net.connect(port, "127.0.0.1")
      local closed = false
      sock:on("data", function() end)
      sock:on("error", function() end)
      sock:on("close", function() closed = true end)
      assert(sock:wait("connect", 5000))
      local payload = "\0\0" .. string.rep("a", (1 << 14) - 1)
      sock:write(PREFACE .. frame(4, 0, 0, "") .. frame(4, 1, 0, "") .. frame(10, 0, 0, payload))
      assert(H.wait_until(function() return closed end, 5000))
      assert.equal(0, streams)
      local client = http2.connect(url(port))
      local req = client:request()
      assert.equal("still here", req:readAll())
      client:close()
      server:close()
    end)
  end)

  it("max-settings.js: a client sending two settings to a server with maxSettings 1 gets an error, no stream made", function()
    H.run(function()
      local server = http2.createServer({ maxSettings = 1 })
      local streams = 0
      server:on("stream", function() streams = streams + 1 end)
      local port = H.listen(server)
      local client = http2.connect(url(port), { settings = { headerTableSize = 1000, enablePush = false } })
      local err
      client:on("error", function(e) err = e end)
      assert(client:wait("close", 5000))
      assert.is_not_nil(err)
      assert.equal(0, streams)
      server:close()
    end)
  end)

  it("max-invalid-frames.js: request HEADERS carrying :status, over and over: the session ends after about maxSessionInvalidFrames", function()
    H.run(function()
      local server = http2.createServer({ maxSessionInvalidFrames = 100 })
      server:on("stream", function(st)
        st:respond({ ["content-type"] = "text/plain", [":status"] = 200 })
        st:finish("Hello, world!\n")
      end)
      local port = H.listen(server)
      local sock = h2lua.net.connect(port, "127.0.0.1")
      local gone = false
      sock:on("data", function() end)
      sock:on("error", function() gone = true end)
      sock:on("close", function() gone = true end)
      assert(sock:wait("connect", 5000))
      sock:write(PREFACE .. frame(4, 0, 0, "") .. frame(4, 1, 0, ""))
      local sent, id = 0, 1
      while not gone and sent < 2000 do
        for _ = 1, 9 do
          -- 0x88 is :status 200 from the static table: no field of a request
          sock:write(frame(1, 5, id, "\x88"))
          id = id + 2
          sent = sent + 1
        end
        h2lua.sleep(10)
      end
      assert.is_true(gone)
      assert.is_true(math.abs(sent - 100) < 100, "sent " .. sent)
      sock:destroy()
      server:close()
    end)
  end)

  it("misbehaving-flow-control.js: a client writing past an 18-byte window: the stream errors with FLOW_CONTROL_ERROR", function()
    H.run(function()
      local server = http2.createServer({ settings = { initialWindowSize = 18 } })
      local err, closed
      server:on("stream", function(st)
        st:on("error", function(e) err = e end)
        st:on("close", function() closed = true end)
        st:resume()
        st:respond()
        st:finish("ok")
      end)
      local port = H.listen(server)
      local sock = h2lua.net.connect(port, "127.0.0.1")
      sock:on("data", function() end)
      sock:on("error", function() end)
      assert(sock:wait("connect", 5000))
      -- a POST to / (HPACK static entries: :method POST, :path /, :scheme http,
      -- then :authority as a literal)
      local block = "\x83\x84\x86\x41\x09localhost"
      local out = { PREFACE, frame(4, 0, 0, ""), frame(4, 1, 0, ""), frame(1, 4, 1, block) }
      for _ = 1, 12 do out[#out + 1] = frame(0, 0, 1, string.rep("hello\n", 3)) end
      sock:write(table.concat(out))
      assert(H.wait_until(function() return closed end, 5000))
      assert.equal("ERR_HTTP2_STREAM_ERROR", err and err.code)
      assert.equal("Stream closed with error code NGHTTP2_FLOW_CONTROL_ERROR", err.message)
      sock:destroy()
      server:close()
    end)
  end)

  it("misbehaving-multiplex.js: HEADERS on stream 1, 3, then 1 again: the session ends with an error, stream 5 never reaches the handler", function()
    H.run(function()
      local server = http2.createServer()
      local ids, session_err = {}, nil
      server:on("session", function(s) s:on("error", function(e) session_err = e end) end)
      server:on("stream", function(st)
        ids[#ids + 1] = st.id
        st:on("error", function() end)
        st:respond()
        st:finish("ok")
      end)
      local port = H.listen(server)
      local sock = h2lua.net.connect(port, "127.0.0.1")
      local closed = false
      sock:on("data", function() end)
      sock:on("error", function() end)
      sock:on("close", function() closed = true end)
      assert(sock:wait("connect", 5000))
      local block = "\x82\x84\x86\x41\x09localhost"
      sock:write(PREFACE .. frame(4, 0, 0, "") .. frame(4, 1, 0, ""))
      sock:write(frame(1, 5, 1, block))
      h2lua.sleep(50)
      sock:write(frame(1, 5, 3, block))
      h2lua.sleep(50)
      sock:write(frame(1, 5, 1, block))
      sock:write(frame(1, 5, 5, block))
      assert(H.wait_until(function() return closed end, 5000))
      assert.same({ 1, 3 }, ids)
      assert.equal("ERR_HTTP2_ERROR", session_err and session_err.code)
      assert.equal("Stream was already closed or invalid", session_err.message)
      server:close()
    end)
  end)

  it("multistream-destroy-on-read-tls.js: ten streams destroyed on their first chunk while the server keeps writing (TLS)", function()
    H.run(function()
      local server, port = secure_server()
      local handled = 0
      server:on("stream", function(st)
        handled = handled + 1
        local function write()
          if st.destroyed then return end
          st:write(string.rep("a", 10240))
          st:once("drain", write)
        end
        write()
      end)
      local client = secure_client(port)
      local destroyed = 0
      for i = 1, 10 do
        local st = client:request({ [":path"] = "/" .. string.char(96 + i) })
        st:once("data", function()
          st:destroy()
          destroyed = destroyed + 1
        end)
      end
      assert(H.wait_until(function() return destroyed == 10 end, 10000))
      assert.equal(10, handled)
      client:destroy()
      server:close()
    end)
  end)
  it("https-fallback.js: allowHTTP1 serves h2 (ALPN h2) and HTTP/1.1 (no ALPN); an h2-only server gives others 'unknownProtocol', or a 403 saying ALPN h2 is missing", function()
    H.run(function()
      local function on_request(req, res)
        local alpn = req.httpVersion == "2.0" and req.stream.session.socket.alpnProtocol
          or req.socket.alpnProtocol
        res:writeHead(200, { ["content-type"] = "application/json" })
        res:finish(("alpn=%s version=%s"):format(tostring(alpn), req.httpVersion))
      end
      -- a TLS client of python's: ALPN as given (none when nil), one
      -- HTTP/1.1 GET; prints the response, or the error's class
      local function py_client(port, alpn)
        return H.sh(H.PY .. " -c " .. H.shq(([[
import socket, ssl, sys
ctx = ssl.create_default_context(cafile='%s/ca.pem')
alpn = %s
if alpn: ctx.set_alpn_protocols(alpn)
try:
    t = ctx.wrap_socket(socket.create_connection(('127.0.0.1', %d)), server_hostname='localhost')
    t.settimeout(5)
    t.sendall(b'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    out = b''
    while True:
        b = t.recv(65536)
        if not b: break
        out += b
    sys.stdout.write(out.decode('latin-1') or 'EOF')
except Exception as e:
    sys.stdout.write('ERROR ' + type(e).__name__)
]]):format(PKI, alpn and ("['" .. alpn .. "']") or "None", port)), 20)
      end
      local calls = 0
      local server = http2.createSecureServer({ key = key("server"), cert = pem("server"), allowHTTP1 = true },
        function(req, res) calls = calls + 1 on_request(req, res) end)
      local port = H.listen(server)
      local client = secure_client(port)
      local req = client:request({ [":path"] = "/" })
      local h = req:wait("response", 5000)
      assert.equal(200, h[":status"])
      assert.equal("application/json", h["content-type"])
      assert.equal("alpn=h2 version=2.0", req:readAll())
      client:close()
      local _, out, perr = py_client(port, nil)
      out = out .. perr
      assert.truthy(out:find("^HTTP/1.1 200 OK\r\n"), out)
      assert.truthy(out:lower():find("content-type: application/json", 1, true), out)
      assert.truthy(out:find("alpn=false version=1.1", 1, true), out)
      assert.equal(2, calls)
      server:close()

      local only = http2.createSecureServer({ key = key("server"), cert = pem("server") }, on_request)
      local unknown = 0
      only:once("unknownProtocol", function(sock)
        unknown = unknown + 1
        sock:destroy()
      end)
      local port2 = H.listen(only)
      local c2 = secure_client(port2)
      local r2 = c2:request({ [":path"] = "/" })
      assert.equal(200, r2:wait("response", 5000)[":status"])
      assert.equal("alpn=h2 version=2.0", r2:readAll())
      c2:close()
      _, out = py_client(port2, "http/1.1")
      assert.falsy(out:find("HTTP/1.1 200", 1, true), out)
      assert.equal(1, unknown)
      -- no listener now: Node 18 takes a TLS client whose ALPN it does not
      -- share (NOACK) as one without, and tells it why
      _, out = py_client(port2, "fake")
      assert.truthy(out:find("Missing ALPN Protocol, expected `h2` to be available", 1, true), out)
      assert.truthy(out:find("HTTP/1.0 403 Forbidden\r\n", 1, true), out)
      _, out = py_client(port2, nil)
      assert.truthy(out:find("Missing ALPN Protocol, expected `h2` to be available", 1, true), out)
      assert.equal(1, unknown)
      only:close()
    end)
  end)
end)
