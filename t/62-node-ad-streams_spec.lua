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
end)
