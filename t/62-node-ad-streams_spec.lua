-- Node.js's http2 tests from allow-http1.js to endafterheaders.js: streams,
-- bodies, servers and sessions (the client's departures are in
-- 62-node-ad-client). Each "it" names the Node file whose checks it ports.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local PKI = os.tmpname() .. ".pki"
local function pem(name) return H.readfile(PKI .. "/" .. name .. ".pem") end
local function key(name) return H.readfile(PKI .. "/" .. name .. "-key.pem") end

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
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. PKI .. " >/dev/null"))
  end)
  teardown(function() os.execute("rm -rf " .. PKI) end)
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
end)
