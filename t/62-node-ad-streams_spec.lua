-- Node.js's http2 tests from allow-http1.js to endafterheaders.js: streams,
-- bodies, servers and sessions (the client's departures are in
-- 62-node-ad-client). Each "it" names the Node file whose checks it ports.
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

local function listen(handler, opts)
  local server = http2.createServer(opts)
  if handler then server:on("stream", handler) end
  return server, H.listen(server)
end

describe("node http2 tests allow-http1 .. endafterheaders", function()
  setup(function()
    pki.make()
  end)
  teardown(pki.remove)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("allow-http1.js: an HTTPS/1.1 keep-alive client is answered, and server:close() does not wait for its idle connection", function()
    H.run(function()
      local server = http2.createSecureServer({ key = key("server"), cert = pem("server"), allowHTTP1 = true })
      local requests = 0
      server:on("request", function(req, res)
        requests = requests + 1
        res:writeHead(200)
        res:finish()
      end)
      local port = H.listen(server)
      -- the client keeps its connection open for 20 s after the answer
      local _, stop = H.start_listening(H.PY .. " -c " .. H.shq(([[
import socket, ssl, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", %d)), server_hostname="localhost")
s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
print("listening", buf.split(b" ")[1].decode(), flush=True)
time.sleep(20)
]]):format(port)))
      assert.equal(1, requests)
      local closed = false
      server:close(function() closed = true end)
      assert.is_true(H.wait_until(function() return closed end, 5000))
      stop()
    end)
  end)

  it("autoselect-protocol.js: one plaintext port answers HTTP/2 and HTTP/1.1 (the engine sniffs the preface)", function()
    H.run(function()
      local server = http2.createServer({ allowHTTP1 = true }, function(req, res)
        res:finish(req.httpVersion == "2.0" and "HTTP/2 Response" or "HTTP/1 Response")
      end)
      local port = H.listen(server)
      local c = http2.connect("http://localhost:" .. port)
      local req = c:request({ [":path"] = "/" })
      req:finish()
      assert.equal("HTTP/2 Response", req:readAll())
      local rc, out = H.sh("curl -sS --http1.1 http://127.0.0.1:" .. port .. "/")
      assert.equal(0, rc)
      assert.equal("HTTP/1 Response", out)
      c:close()
      server:close()
    end)
  end)

  it("backpressure.js: write() is true below the high-water mark, false above it, 'drain' follows, and the client gets every chunk", function()
    H.run(function()
      local results = {}
      local server = listen(function(st)
        st:respond({ ["content-type"] = "text/html" })
        results[1] = st:write(("A"):rep(5))
        results[2] = st:write(("A"):rep(40000))
        assert(st:wait("drain", 5000))
        results[3] = st:write(("A"):rep(5))
        results[4] = st:write(("A"):rep(40000))
        st:finish()
      end)
      local port = server:address().port
      local c = http2.connect("http://localhost:" .. port)
      local req = c:request({ [":path"] = "/" })
      req:finish()
      assert.equal(80010, #req:readAll())
      assert.same({ true, false, true, false }, results)
      c:close()
      server:close()
    end)
  end)

  it("binding.js: getDefaultSettings and http2.constants hold Node's values", function()
    local d = http2.getDefaultSettings()
    assert.equal(4096, d.headerTableSize)
    assert.is_true(d.enablePush)
    assert.equal(4294967295, d.maxConcurrentStreams)
    assert.equal(65535, d.initialWindowSize)
    assert.equal(16384, d.maxFrameSize)
    local C = http2.constants
    local expect = {
      HTTP_STATUS_CONTINUE = 100, HTTP_STATUS_EARLY_HINTS = 103, HTTP_STATUS_OK = 200,
      HTTP_STATUS_NO_CONTENT = 204, HTTP_STATUS_NOT_MODIFIED = 304, HTTP_STATUS_TEAPOT = 418,
      HTTP_STATUS_MISDIRECTED_REQUEST = 421, HTTP_STATUS_NETWORK_AUTHENTICATION_REQUIRED = 511,
      HTTP2_HEADER_STATUS = ":status", HTTP2_HEADER_METHOD = ":method", HTTP2_HEADER_AUTHORITY = ":authority",
      HTTP2_HEADER_SCHEME = ":scheme", HTTP2_HEADER_PATH = ":path", HTTP2_HEADER_PROTOCOL = ":protocol",
      HTTP2_HEADER_DATE = "date", HTTP2_HEADER_COOKIE = "cookie", HTTP2_HEADER_SET_COOKIE = "set-cookie",
      HTTP2_HEADER_CONTENT_TYPE = "content-type", HTTP2_HEADER_TE = "te",
      NGHTTP2_SESSION_SERVER = 0, NGHTTP2_SESSION_CLIENT = 1, NGHTTP2_STREAM_STATE_IDLE = 1,
      NGHTTP2_STREAM_STATE_OPEN = 2, NGHTTP2_STREAM_STATE_CLOSED = 7, 
      NGHTTP2_NO_ERROR = 0, NGHTTP2_PROTOCOL_ERROR = 1,
      NGHTTP2_INTERNAL_ERROR = 2, NGHTTP2_REFUSED_STREAM = 7, NGHTTP2_CANCEL = 8,
      NGHTTP2_HTTP_1_1_REQUIRED = 13, NGHTTP2_ERR_FRAME_SIZE_ERROR = -522,
      NGHTTP2_FLAG_END_STREAM = 1, NGHTTP2_FLAG_END_HEADERS = 4, NGHTTP2_FLAG_PADDED = 8,
      NGHTTP2_FLAG_PRIORITY = 32, NGHTTP2_DEFAULT_WEIGHT = 16, NGHTTP2_SETTINGS_HEADER_TABLE_SIZE = 1,
      NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL = 8, DEFAULT_SETTINGS_HEADER_TABLE_SIZE = 4096,
      DEFAULT_SETTINGS_ENABLE_PUSH = 1, DEFAULT_SETTINGS_MAX_CONCURRENT_STREAMS = 4294967295,
      DEFAULT_SETTINGS_INITIAL_WINDOW_SIZE = 65535, DEFAULT_SETTINGS_MAX_FRAME_SIZE = 16384,
      DEFAULT_SETTINGS_MAX_HEADER_LIST_SIZE = 65535, DEFAULT_SETTINGS_ENABLE_CONNECT_PROTOCOL = 0,
    }
    for k, v in pairs(expect) do assert.equal(v, C[k], k) end
  end)

  it("buffersize.js: bufferSize counts what waits before the connect; write callbacks succeed and close() after finish() lets the body out", function()
    H.run(function()
      local got = {}
      local server = listen(function(st)
        local body = st:readAll()
        got[#got + 1] = #body
        st:respond()
        st:finish()
      end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local reqs, errs = {}, {}
      for j = 1, 2 do
        local r = c:request({ [":method"] = "POST" })
        for i = 1, 10 do
          r:write(("x"):rep(30), function(e) errs[#errs + 1] = e or false end)
          assert.equal(30 * i, r.bufferSize)
        end
        r:finish()
        r:close()
        reqs[j] = r
      end
      for _, r in ipairs(reqs) do assert(r:wait("close", 5000)) end
      assert.is_true(H.wait_until(function() return #got == 2 end, 3000))
      assert.same({ 300, 300 }, got)
      assert.equal(20, #errs)
      for _, e in ipairs(errs) do assert.is_false(e) end
      assert.equal(0, reqs[1].rstCode)
      c:close()
      server:close()
    end)
  end)
  it("cancel-while-client-reading.js: the client pauses and resets with CANCEL while the server echoes over TLS; its stream closes", function()
    H.run(function()
      local server = http2.createSecureServer({ key = key("server"), cert = pem("server") })
      local client_stream
      server:on("stream", function(st)
        st:on("error", function() end)
        st:on("data", function(chunk)
          pcall(st.write, st, chunk)
          client_stream:pause()
          client_stream:close(http2.constants.NGHTTP2_CANCEL)
        end)
        st:resume()
      end)
      local port = H.listen(server)
      local c = http2.connect("https://localhost:" .. port, { rejectUnauthorized = false })
      client_stream = c:request({ [":method"] = "POST" })
      client_stream:resume()
      client_stream:write(("\0"):rep(1024 * 1024))
      assert(client_stream:wait("close", 5000))
      assert.equal(http2.constants.NGHTTP2_CANCEL, client_stream.rstCode)
      c:close()
      server:close()
    end)
  end)

  it("capture-rejection.js: a handler's Lua error after respond() resets the stream (its 'error' gets the error), before it answers 500; in 'request' 500 without the headers set; in the client's 'stream' the push is reset", function()
    H.run(function()
      -- after respond(): the stream is destroyed with the error
      local seen
      local server = listen(function(st)
        st:respond({ [":status"] = 200 })
        st:on("error", function(e) seen = e end)
        error("kaboom", 0)
      end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local req = c:request()
      local cerr
      req:on("error", function(e) cerr = e end)
      assert(req:wait("close", 3000))
      assert.equal("ERR_HTTP2_STREAM_ERROR", cerr and cerr.code)
      assert.is_true(H.wait_until(function() return seen end, 2000))
      assert.truthy(tostring(seen):find("kaboom", 1, true))
      -- before respond(): 500, and no 'error' on the stream
      local errored = false
      server:removeAllListeners("stream")
      server:on("stream", function(st)
        st:on("error", function() errored = true end)
        error("kaboom", 0)
      end)
      req = c:request()
      assert.equal(500, req:wait("response", 3000)[":status"])
      req:readAll()
      assert.is_false(errored)
      c:close()
      server:close()
      -- in 'request': 500 without what setHeader had set
      local compat = http2.createServer(function(_, res)
        res:setHeader("content-type", "application/json")
        error("kaboom", 0)
      end)
      local cport = H.listen(compat)
      c = http2.connect("http://localhost:" .. cport)
      req = c:request()
      local h = req:wait("response", 3000)
      assert.equal(500, h[":status"])
      assert.is_nil(h["content-type"])
      req:readAll()
      c:close()
      compat:close()
      -- in the client's 'stream' (a push): the pushed stream gets the error
      local pusher = listen(function(st)
        st:pushStream({ [":path"] = "/foobar" }, function(err, push)
          push:respond({ ["content-type"] = "text/html" })
          push:finish("pushed by the server")
          st:finish("test")
        end)
        st:respond({ [":status"] = 200 })
      end)
      c = http2.connect("http://localhost:" .. pusher:address().port)
      local pushed_err
      c:on("stream", function(push)
        push:on("error", function(e) pushed_err = e end)
        error("kaboom", 0)
      end)
      req = c:request()
      req:wait("response", 3000)
      req:readAll()
      assert.is_true(H.wait_until(function() return pushed_err end, 3000))
      assert.truthy(tostring(pushed_err):find("kaboom", 1, true))
      c:close()
      pusher:close()
    end)
  end)

  it("clean-output.js: a program that connects and closes prints nothing and exits 0", function()
    local script = os.tmpname() .. ".lua"
    H.writefile(script, [[
local http2 = require "http2"
local server = http2.createServer()
server:listen(0, "127.0.0.1")
server:wait("listening")
local client = http2.connect("http://localhost:" .. server:address().port)
client:wait("connect")
client:close()
server:close()
]])
    local p = io.popen(H.shq(H.BIN) .. " " .. H.shq(script) .. " 2>" .. H.shq(script .. ".err") .. "; echo \"rc=$?\"")
    local out = p:read("a")
    p:close()
    local err = H.readfile(script .. ".err")
    os.remove(script)
    os.remove(script .. ".err")
    assert.equal("rc=0\n", out)
    assert.equal("", err)
  end)

  it("client-data-end.js: a push and the response, both with bodies written in pieces, both read to their end", function()
    H.run(function()
      local server = listen(function(st, h)
        if h[":path"] == "/" then
          st:pushStream({ [":path"] = "/foobar" }, function(err, push)
            assert.is_nil(err)
            push:respond({ ["content-type"] = "text/html", ["x-push-data"] = "pushed by server" })
            push:write("pushed by server ")
            h2lua.setImmediate(function() push:finish("data") end)
            st:finish("st")
          end)
        end
        st:respond({ ["content-type"] = "text/html" })
        st:write("te")
      end)
      local port = server:address().port
      local c = http2.connect("http://localhost:" .. port)
      local push_headers, push_response, push_data, push_ended
      c:on("stream", function(push, headers)
        push_headers = headers
        push:on("push", function(ph) push_response = ph end)
        push_data = ""
        push:on("data", function(d) push_data = push_data .. d end)
        push:on("end", function() push_ended = true end)
      end)
      local req = c:request()
      local h = req:wait("response", 3000)
      assert.equal(200, h[":status"])
      assert.equal("text/html", h["content-type"])
      assert.equal("test", req:readAll())
      assert.is_true(H.wait_until(function() return push_ended end, 3000))
      assert.equal("http", push_headers[":scheme"])
      assert.equal("/foobar", push_headers[":path"])
      assert.equal("localhost:" .. port, push_headers[":authority"])
      assert.equal(200, push_response[":status"])
      assert.equal("pushed by server", push_response["x-push-data"])
      assert.equal("pushed by server data", push_data)
      c:close()
      server:close()
    end)
  end)

  it("client-destroy.js: destroy() before the connect cancels the pending request (ERR_HTTP2_STREAM_CANCEL) and every method then raises ERR_HTTP2_INVALID_SESSION; a server destroying the session, a request destroyed before the connect", function()
    H.run(function()
      local streams = 0
      local server = listen(function(st) streams = streams + 1 st.session:destroy() end)
      local port = server:address().port
      -- destroyed at once, then after the connect
      for _, when in ipairs({ "now", "connected" }) do
        local c = http2.connect("http://localhost:" .. port)
        if when == "connected" then assert(c:wait("connect", 3000)) end
        c:destroy()
        assert.is_true(c.destroyed)
        assert(c:wait("close", 3000))
      end
      local c = http2.connect("http://localhost:" .. port)
      local req = c:request()
      local err, ended, response = nil, false, false
      req:on("error", function(e) err = e end)
      req:on("end", function() ended = true end)
      req:on("response", function() response = true end)
      c:destroy()
      for _, m in ipairs({ "setNextStreamID", "setLocalWindowSize", "ping", "settings", "goaway", "request" }) do
        local e = err_of(c[m], c, m == "settings" and {} or nil)
        assert.equal("ERR_HTTP2_INVALID_SESSION", e.code, m)
        assert.equal("The session has been destroyed", e.message)
      end
      c:close() -- does nothing now
      req:resume()
      assert(req:wait("close", 3000))
      assert.equal("ERR_HTTP2_STREAM_CANCEL", err and err.code)
      assert.equal("The pending stream has been canceled", err.message)
      assert.is_false(ended)
      assert.is_false(response)
      -- the server destroys the session in 'stream': the client closes
      c = http2.connect("http://localhost:" .. port)
      c:on("error", function() end)
      local r = c:request()
      r:on("error", function() end)
      assert(c:wait("close", 3000))
      c:destroy() -- does nothing now
      assert.equal(1, streams)
      -- a request destroyed before the connect never reaches the server
      local conns = 0
      server:on("connection", function() conns = conns + 1 end)
      c = http2.connect("http://localhost:" .. port)
      r = c:request()
      r:destroy()
      assert(c:wait("connect", 3000))
      assert.is_true(H.wait_until(function() return conns == 1 end, 2000))
      c:close()
      assert.equal(1, streams)
      server:close()
    end)
  end)

  it("client-http1-server.js: an HTTP/1 server's answer to our preface: ERR_HTTP2_ERROR 'Protocol error' on the session and the stream, both close", function()
    H.run(function()
      local port, stop = H.start_listening(H.PY .. " -c " .. H.shq([[
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(1)
print("listening", s.getsockname()[1], flush=True)
c, _ = s.accept(); c.recv(24)
c.sendall(b"HTTP/1.1 400 No H2 support\r\n\r\n"); c.close()
]]))
      local c = http2.connect("http://localhost:" .. port)
      local req = c:request()
      local serr, rerr
      c:on("error", function(e) serr = e end)
      req:on("error", function(e) rerr = e end)
      assert(req:wait("close", 5000))
      assert(c:wait("close", 5000))
      stop()
      assert.equal("ERR_HTTP2_ERROR", serr and serr.code)
      assert.equal("Protocol error", serr.message)
      assert.equal("ERR_HTTP2_ERROR", rerr and rerr.code)
      assert.equal("Protocol error", rerr.message)
    end)
  end)
  it("client-port-80.js: an http: authority without a port means port 80", function()
    H.run(function()
      local c = http2.connect("http://localhost")
      c:on("error", function() end)
      local req = c:request()
      req:on("error", function() end)
      assert.equal("localhost:80", req.sentHeaders[":authority"])
      local e
      c:on("error", function(x) e = x end)
      c:close()
      assert(c:wait("close", 5000))
      if e and e.port then assert.equal(80, e.port) end
    end)
  end)

  it("client-request-listeners-warning.js: more requests than the default listener limit before the connect, no warning", function()
    H.run(function()
      local server = listen(function(st) st:respond() st:finish() end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local reqs = {}
      for i = 1, 11 do reqs[i] = c:request() reqs[i]:finish() end
      for i = 1, 11 do assert.equal(200, reqs[i]:wait("response", 3000)[":status"]) reqs[i]:readAll() end
      assert.equal(0, c:listenerCount("connect")) -- the waits for 'connect' are gone
      c:close()
      server:close()
    end)
  end)

  it("client-setLocalWindowSize.js: argument checks, and the session state after a larger and a smaller window", function()
    H.run(function()
      local server = listen(function() error("no stream expected") end)
      local port = server:address().port
      local c = http2.connect("http://localhost:" .. port)
      assert(c:wait("connect", 3000))
      local e = err_of(c.setLocalWindowSize, c, 2 ^ 32)
      assert.equal("ERR_OUT_OF_RANGE", e.code)
      assert.equal("RangeError", e.name)
      assert.equal('The value of "windowSize" is out of range. It must be >= 0 && <= 2147483647. Received 4294967296', e.message)
      for _, v in ipairs({ true, function() end, {}, "1" }) do
        e = err_of(c.setLocalWindowSize, c, v)
        assert.equal("ERR_INVALID_ARG_TYPE", e.code)
        assert.truthy(e.message:find('The "windowSize" argument must be of type number.', 1, true))
      end
      local d = http2.getDefaultSettings()
      c:setLocalWindowSize(2 ^ 20)
      local st = c.state
      assert.equal(2 ^ 20, st.effectiveLocalWindowSize)
      assert.equal(2 ^ 20, st.localWindowSize)
      assert.equal(d.initialWindowSize, st.remoteWindowSize)
      c:close()
      local c2 = http2.connect("http://localhost:" .. port)
      assert(c2:wait("connect", 3000))
      c2:setLocalWindowSize(20)
      st = c2.state
      assert.equal(20, st.effectiveLocalWindowSize)
      assert.equal(d.initialWindowSize, st.localWindowSize)
      assert.equal(d.initialWindowSize, st.remoteWindowSize)
      c2:close()
      server:close()
    end)
  end)

  it("client-settings-before-connect.js: settings() checks its values before the connect; valid ones go out and the request is answered", function()
    H.run(function()
      local remote = 0
      local server = listen(function(st) st:respond() st:finish("ok") end)
      server:on("session", function(ss) ss:on("remoteSettings", function() remote = remote + 1 end) end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local cases = {
        { "headerTableSize", -1, "RangeError" }, { "headerTableSize", 2 ^ 32, "RangeError" },
        { "initialWindowSize", -1, "RangeError" }, { "initialWindowSize", 2 ^ 32, "RangeError" },
        { "maxFrameSize", 1, "RangeError" }, { "maxFrameSize", 2 ^ 24, "RangeError" },
        { "maxConcurrentStreams", -1, "RangeError" }, { "maxConcurrentStreams", 2 ^ 32, "RangeError" },
        { "maxHeaderListSize", -1, "RangeError" }, { "maxHeaderListSize", 2 ^ 32, "RangeError" },
        { "maxHeaderSize", -1, "RangeError" }, { "maxHeaderSize", 2 ^ 32, "RangeError" },
        { "enablePush", "a", "TypeError" }, { "enablePush", 1, "TypeError" },
        { "enablePush", 0, "TypeError" }, { "enablePush", {}, "TypeError" },
      }
      for _, case in ipairs(cases) do
        local e = err_of(c.settings, c, { [case[1]] = case[2] })
        assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", e.code, case[1])
        assert.equal(case[3], e.name, case[1])
      end
      for _, v in ipairs({ 1, true, {} }) do
        assert.equal("ERR_INVALID_ARG_TYPE", err_of(c.settings, c, {}, v).code)
      end
      c:settings({ maxFrameSize = 1234567 }, function() end)
      local req = c:request()
      assert.equal(200, req:wait("response", 3000)[":status"])
      req:readAll()
      assert.is_true(H.wait_until(function() return remote == 2 end, 3000))
      c:close()
      server:close()
    end)
  end)

  it("client-stream-destroy-before-connect.js: destroy(err) before the connect: 'error' with err, rstCode INTERNAL_ERROR, no response", function()
    H.run(function()
      local server = listen(function(st) st:on("error", function() end) st:respond() st:finish() end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local req = c:request()
      local boom = { message = "test" }
      req:destroy(boom)
      local err, response, ended
      req:on("error", function(e) err = e end)
      req:on("response", function() response = true end)
      req:on("end", function() ended = true end)
      req:resume()
      assert(req:wait("close", 3000))
      assert.equal(boom, err)
      assert.equal(http2.constants.NGHTTP2_INTERNAL_ERROR, req.rstCode)
      assert.is_nil(response)
      assert.is_nil(ended)
      assert(c:wait("connect", 3000))
      c:close()
      server:close()
    end)
  end)

  it("client-unescaped-path.js: a :path with a control character or a space is refused by the server (PROTOCOL_ERROR); CR, LF and NUL h2lua refuses at request()", function()
    H.run(function()
      local server = listen(function() error("no stream expected") end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local reqs = {}
      for i = 0, 32 do
        local path = "bad" .. string.char(i) .. "path"
        if i == 0 or i == 10 or i == 13 then
          assert.equal("ERR_HTTP2_INVALID_HEADER_VALUE", err_of(c.request, c, { [":path"] = path }).code)
        else
          local r = c:request({ [":path"] = path })
          r:on("error", function(e) r._err = e end)
          reqs[#reqs + 1] = r
        end
      end
      for _, r in ipairs(reqs) do
        assert(r:wait("close", 3000))
        assert.equal("ERR_HTTP2_STREAM_ERROR", r._err and r._err.code)
        assert.equal("Stream closed with error code NGHTTP2_PROTOCOL_ERROR", r._err.message)
      end
      c:close()
      server:close()
    end)
  end)

  it("client-upload.js and client-upload-reject.js: a large upload arrives byte-exact; a server that answers 400 before reading gets rstCode 0 and the client its 400", function()
    H.run(function()
      local data = H.bytes(300 * 1024, 7)
      local got
      local server = listen(function(st, h)
        if h[":path"] == "/reject" then
          h2lua.setImmediate(function()
            st:on("close", function() got = st.rstCode end)
            st:respond({ [":status"] = 400 })
            st:finish()
          end)
          return
        end
        got = st:readAll()
        st:respond()
        st:finish()
      end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local req = c:request({ [":method"] = "POST" })
      for i = 1, #data, 16384 do
        if not req:write(data:sub(i, i + 16383)) then req:wait("drain", 5000) end
      end
      req:finish()
      assert.equal(200, req:wait("response", 5000)[":status"])
      req:readAll()
      assert.equal(#data, #got)
      assert.equal(H.sha256(data), H.sha256(got))
      got = nil
      local rej = c:request({ [":method"] = "POST", [":path"] = "/reject" })
      local ended = false
      rej:on("end", function() ended = true end)
      rej:write(data:sub(1, 16384))
      assert.equal(400, rej:wait("response", 5000)[":status"])
      rej:resume()
      assert.is_true(H.wait_until(function() return ended and got ~= nil end, 5000))
      assert.equal(0, got)
      c:close()
      server:close()
    end)
  end)

  it("client-write-before-connect.js and client-write-empty-string.js: writes before the connect arrive; empty writes send no data", function()
    H.run(function()
      local bodies, data_events = {}, 0
      local server = listen(function(st, h)
        local body = ""
        st:on("data", function(d) data_events = data_events + 1 body = body .. d end)
        st:on("end", function()
          bodies[h[":path"]] = body
          st:respond({ ["content-type"] = "text/html" })
          st:finish('"' .. body .. '"')
        end)
      end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local req = c:request({ [":method"] = "POST", [":path"] = "/w" })
      req:write("some data ")
      req:finish("more data")
      assert.equal(200, req:wait("response", 3000)[":status"])
      assert.equal('"some data more data"', req:readAll())
      local before = data_events
      for _, seq in ipairs({ { "" }, { "", "" } }) do
        local r = c:request({ [":method"] = "POST", [":path"] = "/e" .. #seq })
        for _, chunk in ipairs(seq) do r:write(chunk) end
        r:finish()
        local h = r:wait("response", 3000)
        assert.equal("text/html", h["content-type"])
        assert.equal('""', r:readAll())
      end
      assert.equal(before, data_events)
      c:close()
      server:close()
    end)
  end)
  it("close-while-writing.js: the client destroys its stream while the server writes (TLS, maxSessionMemory 1000); the stream closes", function()
    H.run(function()
      local server = http2.createSecureServer({ key = key("server"), cert = pem("server"), maxSessionMemory = 1000 })
      local client_stream
      server:on("session", function(ss)
        ss:on("stream", function(st)
          st:on("error", function() end)
          st:on("data", function()
            pcall(st.write, st, "\0")
            h2lua.setImmediate(function() client_stream:destroy() end)
          end)
          st:resume()
        end)
      end)
      local port = H.listen(server)
      local c = http2.connect("https://localhost:" .. port, { ca = pem("ca"), maxSessionMemory = 1000 })
      client_stream = c:request({ [":method"] = "POST" })
      client_stream:resume()
      client_stream:write(("\0"):rep(64 * 1024))
      assert(client_stream:wait("close", 5000))
      c:close()
      server:close()
    end)
  end)

  it("connect-method-extended.js: extended CONNECT once the server enabled it, with :scheme, :path and :authority filled in", function()
    H.run(function()
      local seen
      local server = listen(function(st, h)
        seen = h
        st:respond()
        st:finish("ok")
      end, { settings = { enableConnectProtocol = true } })
      local port = server:address().port
      local c = http2.connect("http://localhost:" .. port)
      local settings = c:wait("remoteSettings", 3000)
      assert.is_true(settings.enableConnectProtocol)
      local req = c:request({ [":method"] = "CONNECT", [":protocol"] = "foo" })
      req:finish()
      assert.equal("ok", req:readAll())
      assert(req:wait("close", 3000))
      assert.equal(0, req.rstCode)
      assert.equal("CONNECT", seen[":method"])
      assert.equal("http", seen[":scheme"])
      assert.equal("foo", seen[":protocol"])
      assert.equal("localhost:" .. port, seen[":authority"])
      assert.equal("/", seen[":path"])
      c:close()
      server:close()
    end)
  end)

  it("connect-method.js: CONNECT needs :authority and refuses :scheme and :path; a proxy tunnels to a TCP server both ways", function()
    H.run(function()
      local net = h2lua.net
      local tcp_data, tcp_closed = "", false
      local tcp = net.createServer(function(sock)
        sock:on("data", function(d) tcp_data = tcp_data .. d end)
        sock:on("close", function() tcp_closed = true end)
        sock:finish("hello")
      end)
      tcp:listen(0, "127.0.0.1")
      assert(tcp:wait("listening", 2000))
      local tport = tcp:address().port
      local proxy = listen(function(st, h)
        if h[":method"] ~= "CONNECT" then st:close(http2.constants.NGHTTP2_REFUSED_STREAM) return end
        local host, p = h[":authority"]:match("^(.*):(%d+)$")
        assert.equal("localhost", host)
        assert.equal(tport, tonumber(p))
        local sock = net.connect(tonumber(p), "127.0.0.1")
        sock:on("error", function() st:close(http2.constants.NGHTTP2_CONNECT_ERROR) end)
        sock:on("connect", function()
          st:respond()
          sock:pipe(st)
          st:pipe(sock)
        end)
      end)
      local c = http2.connect("http://localhost:" .. proxy:address().port)
      local e = err_of(c.request, c, { [":method"] = "CONNECT" })
      assert.equal("ERR_HTTP2_CONNECT_AUTHORITY", e.code)
      assert.equal(":authority header is required for CONNECT requests", e.message)
      e = err_of(c.request, c, { [":method"] = "CONNECT", [":authority"] = "localhost:" .. tport, [":scheme"] = "http" })
      assert.equal("ERR_HTTP2_CONNECT_SCHEME", e.code)
      assert.equal("The :scheme header is forbidden for CONNECT requests", e.message)
      e = err_of(c.request, c, { [":method"] = "CONNECT", [":authority"] = "localhost:" .. tport, [":path"] = "/" })
      assert.equal("ERR_HTTP2_CONNECT_PATH", e.code)
      assert.equal("The :path header is forbidden for CONNECT requests", e.message)
      local req = c:request({ [":method"] = "CONNECT", [":authority"] = "localhost:" .. tport })
      req:finish("hello")
      assert.equal(200, req:wait("response", 3000)[":status"])
      assert.equal("hello", req:readAll())
      assert.is_true(H.wait_until(function() return tcp_closed end, 3000))
      assert.equal("hello", tcp_data)
      c:close()
      proxy:close()
      tcp:close()
    end)
  end)

  it("cookies.js: cookie sent as a sequence arrives joined with '; ', other repeated fields with ', '; set-cookie comes back as a sequence", function()
    H.run(function()
      local set_cookie = { "a=b", "c=d; Wed, 21 Oct 2015 07:28:00 GMT; Secure; HttpOnly", "e=f" }
      local seen
      local server = listen(function(st, h)
        seen = h
        st:respond({ ["content-type"] = "text/html", [":status"] = 200, ["set-cookie"] = set_cookie })
        st:finish("hello world")
      end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local req = c:request({ [":path"] = "/", abc = { 1, 2, 3 }, cookie = { "a=b", "c=d", "e=f" } })
      local h = req:wait("response", 3000)
      req:readAll()
      assert.same(set_cookie, h["set-cookie"])
      assert.equal("1, 2, 3", seen.abc)
      assert.equal("a=b; c=d; e=f", seen.cookie)
      c:close()
      server:close()
    end)
  end)

  it("create-client-connect.js: authorities as a string or a table with protocol from the options; https: against a plaintext server fails; the TLS forms", function()
    H.run(function()
      local server = listen()
      local port = server:address().port
      local items = {
        { "http://localhost:" .. port },
        { { port = port }, { protocol = "http:" } },
        { { port = port, hostname = "127.0.0.1" }, { protocol = "http:" } },
        { { origin = "http://localhost:" .. port } },
      }
      for _, args in ipairs(items) do
        local c = http2.connect(table.unpack(args))
        assert(c:wait("connect", 3000))
        c:close()
        assert(c:wait("close", 3000))
      end
      local bad = http2.connect({ port = port, protocol = "https:" })
      assert(bad:wait("error", 5000))
      assert(bad:wait("close", 3000))
      server:close()
      local tls = http2.createSecureServer({ key = key("server"), cert = pem("server") })
      local tport = H.listen(tls)
      local opts = { rejectUnauthorized = false }
      for _, a in ipairs({ "https://localhost:" .. tport, { port = tport, protocol = "https:" },
          { port = tport, hostname = "127.0.0.1", protocol = "https:" }, { port = tport } }) do
        local c = http2.connect(a, opts)
        assert(c:wait("connect", 3000))
        assert.is_true(c.encrypted)
        c:close()
      end
      tls:close()
    end)
  end)

  it("create-client-secure-session.js: originSet on both sides, the server name the client asked for, alpnProtocol h2, a date header", function()
    H.run(function()
      local function verify(cert, servername)
        local seen
        local server = http2.createSecureServer({ key = key(cert), cert = pem(cert) })
        server:on("stream", function(st, h)
          local ss, sock = st.session, st.session.socket
          seen = { encrypted = ss.encrypted, alpn = ss.alpnProtocol, origin = ss.originSet[1],
            want = "https://" .. sock.servername .. ":" .. sock.remotePort, authority = h[":authority"],
            servername = sock.servername }
          st:respond({ ["content-type"] = "application/json" })
          st:finish(sock.servername .. " " .. sock.alpnProtocol)
        end)
        local port = H.listen(server)
        local c = http2.connect("https://localhost:" .. port, { ca = pem("ca"), servername = servername })
        local req = c:request()
        assert(c:wait("connect", 3000))
        assert.is_true(c.encrypted)
        assert.equal("h2", c.alpnProtocol)
        assert.same({ "https://" .. (servername ~= "" and servername or "localhost") .. ":" .. port }, c.originSet)
        local h = req:wait("response", 3000)
        assert.equal(200, h[":status"])
        assert.equal("application/json", h["content-type"])
        assert.truthy(h.date)
        local want = servername ~= "" and servername or "localhost"
        assert.equal(want .. " h2", req:readAll())
        assert.is_true(seen.encrypted)
        assert.equal("h2", seen.alpn)
        assert.equal(seen.want, seen.origin)
        assert.equal(want, seen.servername)
        assert.equal(1, seen.authority:find(want, 1, true))
        c:close()
        server:close()
      end
      verify("server", nil)
      verify("other", "other.test")
      verify("server", "")
    end)
  end)

  it("create-client-session.js: 100 requests on one h2c session: flags END_STREAM|END_HEADERS at the server, a date header, the body byte-exact", function()
    H.run(function()
      local body = "<html><head></head><body><h1>this is some data</h2></body></html>"
      local flags_seen = {}
      local server = listen(function(st, h, flags)
        assert.equal("http", h[":scheme"])
        assert.truthy(h[":authority"])
        assert.equal("GET", h[":method"])
        flags_seen[flags] = (flags_seen[flags] or 0) + 1
        st:respond({ ["content-type"] = "text/html", [":status"] = 200 })
        st:write(body:sub(1, 20))
        st:finish(body:sub(21))
      end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      assert(c:wait("connect", 3000))
      assert.is_false(c.encrypted)
      assert.is_nil(c.originSet)
      assert.equal("h2c", c.alpnProtocol)
      local reqs = {}
      for i = 1, 100 do reqs[i] = c:request() end
      for i = 1, 100 do
        local h = reqs[i]:wait("response", 5000)
        assert.equal(200, h[":status"])
        assert.equal("text/html", h["content-type"])
        assert.truthy(h.date)
        assert.equal(body, reqs[i]:readAll())
      end
      assert.same({ [5] = 100 }, flags_seen)
      c:close()
      server:close()
    end)
  end)

  it("createserver-options.js and createsecureserver-options.js: options and options.settings must be tables; maxSessionInvalidFrames and maxSessionRejectedStreams must be >= 0", function()
    for _, create in ipairs({ http2.createServer, http2.createSecureServer }) do
      for _, v in ipairs({ 1, true, "test" }) do
        local e = err_of(create, v)
        assert.equal("ERR_INVALID_ARG_TYPE", e.code)
        assert.equal("TypeError", e.name)
        e = err_of(create, { settings = v })
        assert.equal("ERR_INVALID_ARG_TYPE", e.code)
        assert.truthy(e.message:find("options.settings", 1, true))
      end
      for _, opt in ipairs({ "maxSessionInvalidFrames", "maxSessionRejectedStreams" }) do
        for _, v in ipairs({ -1, -math.huge }) do
          local e = err_of(create, { [opt] = v })
          assert.equal("ERR_OUT_OF_RANGE", e.code, opt)
          assert.equal("RangeError", e.name)
        end
      end
    end
  end)

  it("date-header.js: respond() adds a date header that parses as an HTTP date", function()
    H.run(function()
      local server = listen(function(st) st:respond() st:finish() end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local req = c:request()
      local h = req:wait("response", 3000)
      req:readAll()
      assert.truthy(h.date:match("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$"), h.date)
      c:close()
      server:close()
    end)
  end)

  it("destroy-after-write.js: a server that responds, writes and destroys at the request's end; the client gets the response and its stream closes", function()
    H.run(function()
      local server = http2.createServer()
      server:on("session", function(ss)
        ss:on("stream", function(st)
          st:on("end", function()
            st:respond({ [":status"] = 200 })
            st:write("foo")
            st:destroy()
          end)
          st:resume()
        end)
      end)
      local port = H.listen(server)
      local c = http2.connect("http://localhost:" .. port)
      local req = c:request({ [":method"] = "POST" })
      req:on("error", function() end)
      req:resume()
      req:finish()
      assert.equal(200, req:wait("response", 3000)[":status"])
      assert(req:wait("close", 3000))
      c:close()
      server:close()
    end)
  end)

  it("dont-lose-data.js: a pushed body and the response body stay readable when read later", function()
    H.run(function()
      local server = listen(function(st)
        assert.is_true(st.pushAllowed)
        st:pushStream({ [":path"] = "/file" }, function(err, push)
          assert.is_nil(err)
          push:respond()
          push:finish("a push stream")
        end)
        st:respond()
        st:finish("hello world")
      end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local pushed
      c:on("stream", function(push, h)
        assert.equal("/file", h[":path"])
        pushed = push
      end)
      local req = c:request()
      req:wait("response", 3000)
      assert.is_true(H.wait_until(function() return pushed end, 3000))
      assert.equal("a push stream", pushed:readAll())
      h2lua.sleep(20)
      assert.equal("hello world", req:readAll())
      c:close()
      server:close()
    end)
  end)

  it("dont-override.js: createServer, respond and request leave the tables they are given as they were", function()
    H.run(function()
      local options = {}
      local server = http2.createServer(options)
      assert.is_nil(next(options))
      local rh, ro
      server:on("stream", function(st)
        rh, ro = {}, {}
        st:respond(rh, ro)
        st:finish()
      end)
      local port = H.listen(server)
      local c = http2.connect("http://localhost:" .. port)
      local h, o = {}, {}
      local req = c:request(h, o)
      assert.is_nil(next(h))
      assert.is_nil(next(o))
      req:readAll()
      assert.is_nil(next(rh))
      assert.is_nil(next(ro))
      c:close()
      server:close()
    end)
  end)

  it("empty-frame-without-eof.js: empty DATA frames without END_STREAM count against maxSessionInvalidFrames (ERR_HTTP2_TOO_MANY_INVALID_FRAMES at 0, nothing at 2)", function()
    H.run(function()
      -- a raw server: SETTINGS, a response on stream 1, two empty DATA
      -- frames without END_STREAM, then an empty one with it, and the end
      local port, stop = H.start_listening(H.PY .. " -c " .. H.shq([[
import socket, struct
def frame(t, f, sid, p=b""):
    return struct.pack(">I", len(p))[1:] + bytes([t, f]) + struct.pack(">I", sid) + p
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(4)
print("listening", s.getsockname()[1], flush=True)
for _ in range(2):
    c, _ = s.accept(); c.recv(65536)
    c.sendall(frame(4, 0, 0) + frame(1, 4, 1, b"\x88") + frame(0, 0, 1) + frame(0, 0, 1) + frame(0, 1, 1))
    c.shutdown(socket.SHUT_WR)
    try:
        while c.recv(65536): pass
    except OSError:
        pass
    c.close()
]]))
      for _, limit in ipairs({ 0, 2 }) do
        local c = http2.connect("http://localhost:" .. port, { maxSessionInvalidFrames = limit })
        local serr, rerr
        c:on("error", function(e) serr = e end)
        local req = c:request({ [":method"] = "GET", [":path"] = "/" })
        req:on("error", function(e) rerr = e end)
        req:resume()
        assert(req:wait("close", 5000))
        c:close()
        assert(c:wait("close", 5000))
        if limit == 0 then
          assert.equal("ERR_HTTP2_TOO_MANY_INVALID_FRAMES", serr and serr.code)
          assert.equal("Too many invalid HTTP/2 frames", serr.message)
          assert.equal("ERR_HTTP2_TOO_MANY_INVALID_FRAMES", rerr and rerr.code)
        else
          assert.is_nil(serr)
          assert.is_nil(rerr)
        end
      end
      stop()
    end)
  end)

  it("endafterheaders.js: endAfterHeaders is true at the server for a GET, false for a POST, false on the client's responses", function()
    H.run(function()
      local seen = {}
      local server = listen(function(st, h)
        seen[h[":method"]] = st.endAfterHeaders
        st:respond()
        st:finish("ok")
      end)
      local port = server:address().port
      for _, method in ipairs({ "GET", "POST" }) do
        local c = http2.connect("http://localhost:" .. port)
        local req = c:request({ [":method"] = method })
        if method == "POST" then req:finish() end
        req:wait("response", 3000)
        assert.is_false(req.endAfterHeaders)
        assert.equal("ok", req:readAll())
        c:close()
      end
      assert.same({ GET = true, POST = false }, seen)
      server:close()
    end)
  end)

  it("client-priority-before-connect.js: priority() on a request before the connect; the response comes", function()
    H.run(function()
      local server = listen(function(st) st:respond() st:finish("ok") end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local req = c:request()
      req:priority({})
      assert.equal(200, req:wait("response", 3000)[":status"])
      assert.equal("ok", req:readAll())
      c:close()
      server:close()
    end)
  end)
  it("a stream reset with an error code closes without its unread body (Node's close after RST_STREAM); after NO_ERROR the body stays readable", function()
    H.run(function()
      local server = listen(function(st, h)
        st:respond()
        st:write("some body")
        if h[":path"] == "/cancel" then st:close(http2.constants.NGHTTP2_CANCEL)
        else st:finish() end
      end)
      local c = http2.connect("http://localhost:" .. server:address().port)
      local r = c:request({ [":path"] = "/cancel" })
      assert.equal(200, r:wait("response", 3000)[":status"])
      assert(r:wait("close", 3000))
      assert.equal(http2.constants.NGHTTP2_CANCEL, r.rstCode)
      local ok = c:request({ [":path"] = "/ok" })
      ok:wait("response", 3000)
      h2lua.sleep(30)
      assert.equal("some body", ok:readAll())
      c:close()
      server:close()
    end)
  end)
  it("byteswritten-server.js: the session's socket counts bytesWritten, and its 'finish' comes when the connection closes", function()
    H.run(function()
      local finished, written = false, nil
      local server = http2.createServer(function(req, res)
        res.socket:on("finish", function()
          finished = true
          written = req.socket.bytesWritten
        end)
        res:writeHead(200, { ["Content-Type"] = "text/plain" })
        res:write(("1"):rep(1024))
        res:finish()
      end)
      local port = H.listen(server)
      local c = http2.connect("http://localhost:" .. port, { protocol = "http:" })
      local req = c:request({ [":method"] = "GET", [":path"] = "/" })
      req:finish()
      assert.equal(1024, #req:readAll())
      assert.is_true(c.socket.bytesRead > 1024)
      c:close()
      assert.is_true(H.wait_until(function() return finished end, 3000))
      assert.is_true(written > 1024)
      server:close()
    end)
  end)
end)
