-- Node.js's test/parallel/http2 files from n to z about streams: respond,
-- push, trailers, writes and pipes, the Compatibility API's headers,
-- performance entries, padding, TLS; checked the way h2lua spells them.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local C = http2.constants

local raw = H.raw
local serve = H.serve
local connect = H.connect

-- A readable source as Node's Readable in the tests: |chunks| one by one,
-- then the end; pipe(dest) with backpressure.
local function source(chunks)
  return {
    pipe = function(_, dest)
      h2lua.spawn(function()
        for _, c in ipairs(chunks) do
          if not dest:write(c) then dest:wait("drain", 5000) end
        end
        dest:finish()
      end)
      return dest
    end,
  }
end

local PKI = os.tmpname() .. ".pki"

describe("Node test/parallel/http2 (n-z): streams", function()
  setup(function()
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. PKI .. " >/dev/null"))
  end)
  teardown(function() os.execute("rm -rf " .. PKI) end)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("respond-errors.js: respond twice raises ERR_HTTP2_HEADERS_SENT; after destroy ERR_HTTP2_INVALID_STREAM", function()
    H.run(function()
      local e1, e2
      local server, port = serve(nil, function(st)
        st:respond({ ["content-type"] = "text/plain" })
        local ok, e = pcall(st.respond, st)
        e1 = not ok and (e.code .. "|" .. e.message)
        st:destroy()
        ok, e = pcall(st.respond, st)
        e2 = not ok and (e.code .. "|" .. e.message)
      end)
      local client = connect(port)
      local req = client:request({})
      req:on("error", function() end)
      assert(req:wait("close", 5000))
      assert.equal("ERR_HTTP2_HEADERS_SENT|Response has already been initiated.", e1)
      assert.equal("ERR_HTTP2_INVALID_STREAM|The stream has been destroyed", e2)
      client:close()
      server:close()
    end)
  end)

  it("respond-no-data.js: 204, 205 and 304 end the stream with the headers; it is destroyed at its close", function()
    H.run(function()
      local statuses, destroyed = { 204, 205, 304 }, {}
      local i = 0
      local server, port = serve(nil, function(st)
        i = i + 1
        st:on("close", function() destroyed[#destroyed + 1] = st.destroyed end)
        st:respond({ [":status"] = statuses[i] })
      end)
      for n = 1, 3 do
        local client = connect(port)
        local req = client:request({})
        assert.equal(statuses[n], req:wait("response", 5000)[":status"])
        assert.equal("", req:readAll())
        client:close()
      end
      assert.is_true(H.wait_until(function() return #destroyed == 3 end, 2000))
      assert.same({ true, true, true }, destroyed)
      server:close()
    end)
  end)

  it("respond-with-file-connection-abort.js: the client's socket dies mid-file; the server carries on", function()
    H.run(function()
      local path = os.tmpname()
      H.writefile(path, H.bytes(4 * 1024 * 1024, 9))
      local errs = {}
      local server, port = serve(nil, function(st)
        st:on("error", function(e) errs[#errs + 1] = e.code end)
        st:respondWithFile(path, { ["content-type"] = "application/octet-stream" })
      end)
      local client = connect(port)
      local req = client:request({})
      req:on("error", function() end)
      assert(req:wait("response", 5000))
      assert(req:read())
      client:destroy()
      h2lua.sleep(100)
      -- another client is served whole
      local c2 = connect(port)
      local r2 = c2:request({})
      assert(r2:wait("response", 5000))
      assert.equal(4 * 1024 * 1024, #r2:readAll({ limit = 8 * 1024 * 1024 }))
      for _, code in ipairs(errs) do assert.equal("ECONNRESET", code) end
      c2:close()
      server:close()
      os.remove(path)
    end)
  end)

  it("server-errors.js: stream:destroy(err) emits that very error on the stream", function()
    H.run(function()
      local expected, got = { message = "kaboom" }, nil
      local server, port = serve(nil, function(st)
        st:on("error", function(e) got = e end)
        st:write("hello")
        st:destroy(expected)
      end)
      local client = connect(port)
      local req = client:request({ [":path"] = "/foobar" })
      req:on("error", function() end)
      assert(req:wait("close", 5000))
      assert.is_true(H.wait_until(function() return got end, 2000))
      assert.equal(expected, got)
      client:destroy()
      server:close()
    end)
  end)

  it("server-push-stream.js: a push's headers reach the client's 'stream', its response 'push'; a nested push raises ERR_HTTP2_NESTED_PUSH", function()
    H.run(function()
      local nested
      local server, port = serve(nil, function(st, h)
        if h[":path"] == "/" then
          st:respond({ ["content-type"] = "text/html" })
          st:pushStream({ [":scheme"] = "http", [":path"] = "/foobar", [":authority"] = "localhost:" .. 1 },
            function(err, push)
              assert.is_nil(err)
              push:respond({ ["content-type"] = "text/html", [":status"] = 200, ["x-push-data"] = "pushed by server" })
              push:finish("pushed by server data")
              local ok, e = pcall(push.pushStream, push, {}, function() end)
              nested = not ok and (e.code .. "|" .. e.name)
              st:finish("test")
            end)
        end
      end)
      local client = connect(port)
      local pushed = {}
      client:on("stream", function(push, headers)
        pushed.req = { headers[":scheme"], headers[":path"], headers[":authority"] }
        push:on("push", function(h, flags)
          pushed.res = { h[":status"], h["content-type"], h["x-push-data"], math.type(flags) }
        end)
        push:on("aborted", function() pushed.aborted = true end)
        h2lua.spawn(function() pushed.body = push:readAll() end)
      end)
      local req = client:request({ [":path"] = "/" })
      assert.equal("test", req:readAll())
      assert.is_true(H.wait_until(function() return pushed.body end, 3000))
      assert.same({ "http", "/foobar", "localhost:1" }, pushed.req)
      assert.same({ 200, "text/html", "pushed by server", "integer" }, pushed.res)
      assert.equal("pushed by server data", pushed.body)
      assert.is_nil(pushed.aborted)
      assert.equal("ERR_HTTP2_NESTED_PUSH|Error", nested)
      client:close()
      server:close()
    end)
  end)

  it("server-push-stream-errors-args.js: pushStream wants a function callback (ERR_INVALID_ARG_TYPE) and valid headers", function()
    H.run(function()
      local e1, e2
      local server, port = serve(nil, function(st)
        local ok, e = pcall(st.pushStream, st, { [":path"] = "/foobar" }, {}, "callback")
        e1 = not ok and e.code
        ok, e = pcall(st.pushStream, st, { connection = "test" }, {}, function() end)
        e2 = not ok and (e.code .. "|" .. e.name .. "|" .. e.message)
        st:finish("test")
      end)
      local client = connect(port)
      local req = client:request({ [":path"] = "/" })
      assert.equal("test", req:readAll())
      assert.equal("ERR_INVALID_ARG_TYPE", e1)
      assert.equal('ERR_HTTP2_INVALID_CONNECTION_HEADERS|TypeError|HTTP/1 Connection specific headers are forbidden: "connection"', e2)
      client:close()
      server:close()
    end)
  end)

  it("server-push-stream-head.js: a HEAD push ends with its headers; the client's push ends without data", function()
    H.run(function()
      local ended
      local server, port = serve(nil, function(st, h)
        if h[":path"] ~= "/" then return end
        st:respond({ ["content-type"] = "text/html" })
        st:pushStream({ [":method"] = "HEAD" }, function(err, push)
          assert.is_nil(err)
          push:respond()
          ended = push.writableEnded -- (h2lua ends it at respond(); Node before)
          st:finish("test")
        end)
      end)
      local client = connect(port)
      local got = {}
      client:on("stream", function(push, headers)
        got.method = headers[":method"]
        got.path = headers[":path"]
        push:on("data", function() got.data = true end)
        push:on("end", function() got["end"] = true end)
        push:on("close", function() got.close = true end)
      end)
      local req = client:request({})
      assert.equal("test", req:readAll())
      assert.is_true(H.wait_until(function() return got.close end, 3000))
      assert.is_true(ended)
      assert.equal("HEAD", got.method)
      assert.equal("/", got.path)
      assert.is_nil(got.data)
      assert.is_true(got["end"])
      client:close()
      server:close()
    end)
  end)

  it("short-stream-client-server.js: a short source piped into the response; the client reads it late, whole", function()
    H.run(function()
      local server, port = serve(nil, function(st)
        st:respond({ [":status"] = 200, ["content-type"] = "text/html" })
        source({ "test" }):pipe(st)
      end)
      local client = connect(port)
      local req = client:request({})
      local h = req:wait("response", 5000)
      assert.equal("text/html", h["content-type"])
      h2lua.sleep(100)
      assert.is_false(req.destroyed and not req.readableEnded and req._close_emitted == true)
      assert.equal("test", req:readAll())
      client:close()
      server:close()
    end)
  end)

  it("zero-length-write.js: empty chunks in a piped upload and a piped response change nothing", function()
    H.run(function()
      local chunks = { "", "asdf", "", "foo", "", "bar", "" }
      local got
      local server, port = serve(nil, function(st)
        st:respond()
        got = st:readAll()
        source(chunks):pipe(st)
      end)
      local client = connect(port)
      local req = client:request({ [":method"] = "POST" })
      source(chunks):pipe(req)
      assert(req:wait("response", 5000))
      assert.equal("asdffoobar", req:readAll())
      assert.equal("asdffoobar", got)
      client:close()
      server:close()
    end)
  end)

  it("write-callbacks.js: write callbacks are called on both sides", function()
    H.run(function()
      local got
      local server, port = serve(nil, function(st)
        st:write("abc", function() st:finish("xyz") end)
        got = st:readAll()
      end)
      local client = connect(port)
      local req = client:request({ [":method"] = "POST" })
      req:write("abc", function() req:finish("xyz") end)
      assert.equal("abcxyz", req:readAll())
      assert.is_true(H.wait_until(function() return got end, 2000))
      assert.equal("abcxyz", got)
      client:close()
      server:close()
    end)
  end)

  it("window-size.js: the server sends every byte whatever the client's initialWindowSize", function()
    H.run(function()
      for _, size in ipairs({ 16, 255 }) do
        local buffers = {}
        for v = 0, 3 do buffers[#buffers + 1] = string.rep(string.char(v), size) end
        local expected = table.concat(buffers)
        for _, window in ipairs({ 16, 255, 256, 131072, false }) do
          local server, port = serve(nil, function(st)
            for _, b in ipairs(buffers) do
              if not st:write(b) then st:wait("drain", 5000) end
              h2lua.sleep(0)
            end
            st:finish()
          end)
          local client = connect(port, window and { settings = { initialWindowSize = window } } or nil)
          local req = client:request({ [":path"] = "/" })
          assert.equal(expected, req:readAll(), "window " .. tostring(window))
          client:close()
          server:close()
        end
      end
    end)
  end)

  it("pipe.js and pipe-named-pipe.js: an upload piped into a sink arrives whole (the named-pipe half: h2lua listens on TCP only)", function()
    H.run(function()
      local data = H.bytes(300000, 3)
      local sink = { parts = {} }
      function sink:write(c) self.parts[#self.parts + 1] = c return true end
      function sink:finish() self.done = true end
      local server, port = serve(nil, function(st)
        st:pipe(sink)
        st:on("end", function()
          st:respond()
          st:finish()
        end)
      end)
      local client = connect(port)
      local req = client:request({ [":method"] = "POST" })
      source({ data:sub(1, 100000), data:sub(100001, 200000), data:sub(200001) }):pipe(req)
      assert(req:wait("response", 5000))
      req:readAll()
      assert.is_true(H.wait_until(function() return sink.done end, 3000))
      assert.equal(#data, #table.concat(sink.parts))
      assert.equal(data, table.concat(sink.parts))
      client:close()
      server:close()
    end)
  end)

  it("trailers.js: trailers both ways; ERR_HTTP2_TRAILERS_NOT_READY before 'wantTrailers', _ALREADY_SENT after, ERR_HTTP2_INVALID_STREAM once closed", function()
    H.run(function()
      local errs, got = {}, nil
      local body = "<html><head></head><body><h1>this is some data</h2></body></html>"
      local server, port = serve(nil, function(st)
        st:on("trailers", function(h)
          got = h["test-trailer"]
          st:finish(body)
        end)
        st:respond({ ["content-type"] = "text/html", [":status"] = 200 }, { waitForTrailers = true })
        st:on("wantTrailers", function()
          st:sendTrailers({ ["test-trailer"] = "testing" })
          local ok, e = pcall(st.sendTrailers, st, {})
          errs.again = not ok and e.code
        end)
        local ok, e = pcall(st.sendTrailers, st, {})
        errs.early = not ok and e.code
        h2lua.spawn(function() st:readAll() end)
      end)
      local client = connect(port)
      local req = client:request({ [":path"] = "/", [":method"] = "POST" }, { waitForTrailers = true })
      req:on("wantTrailers", function() req:sendTrailers({ ["test-trailer"] = "testing" }) end)
      local trailers
      req:on("trailers", function(h) trailers = h["test-trailer"] end)
      req:finish("data")
      assert.equal(body, req:readAll())
      assert(req:wait("close", 5000))
      local ok, e = pcall(req.sendTrailers, req, {})
      assert.is_false(ok)
      assert.equal("ERR_HTTP2_INVALID_STREAM", e.code)
      assert.equal("testing", trailers)
      assert.equal("testing", got)
      assert.equal("ERR_HTTP2_TRAILERS_NOT_READY", errs.early)
      assert.equal("ERR_HTTP2_TRAILERS_ALREADY_SENT", errs.again)
      client:close()
      server:close()
    end)
  end)

  it("trailers-after-session-close.js: after server:close() and session:close() a response still gets its data and trailers", function()
    H.run(function()
      local server
      server = serve(nil, function(st)
        server:close(function() end)
        st.session:close(function() end)
        st:on("wantTrailers", function() st:sendTrailers({ xyz = "abc" }) end)
        st:respond({ [":status"] = 200 }, { waitForTrailers = true })
        st:write("some data")
        st:finish()
      end)
      local port = server:address().port
      local client = connect(port)
      local req = client:request({ [":path"] = "/", [":method"] = "POST" })
      req:finish()
      local trailers
      req:on("trailers", function(h) trailers = h.xyz end)
      assert(req:wait("response", 5000))
      assert.equal("some data", req:readAll())
      assert(req:wait("close", 5000))
      assert.equal("abc", trailers)
      assert(client:wait("close", 5000))
    end)
  end)

  it("write-empty-string.js: the Compatibility API's write('') writes nothing", function()
    H.run(function()
      local server = http2.createServer(function(_, res)
        res:writeHead(200, { ["Content-Type"] = "text/plain" })
        res:write("1\n")
        res:write("")
        res:write("2\n")
        res:write("")
        res:finish("3\n")
      end)
      local port = H.listen(server)
      local client = connect(port)
      local req = client:request({ [":path"] = "/" })
      assert.equal(200, req:wait("response", 5000)[":status"])
      assert.equal("1\n2\n3\n", req:readAll())
      client:close()
      server:close()
    end)
  end)

  it("removed-header-stays-removed.js and server-set-header.js: setHeader's values are sent (date too), names lower-cased", function()
    H.run(function()
      local body = "<html><head></head><body><h1>this is some data</h2></body></html>"
      local server = http2.createServer(function(_, res)
        res:setHeader("date", "snacks o clock")
        res:setHeader("foobar", "baz")
        res:setHeader("X-POWERED-BY", "node-test")
        res:finish(body)
      end)
      local port = H.listen(server)
      local client = connect(port)
      local req = client:request({ [":path"] = "/" })
      local h = req:wait("response", 5000)
      assert.equal("snacks o clock", h.date)
      assert.equal("baz", h.foobar)
      assert.equal("node-test", h["x-powered-by"])
      assert.equal(body, req:readAll())
      client:close()
      server:close()
    end)
  end)

  it("server-set-header.js: setHeader('connection', ...) is dropped (with a warning), as Node over HTTP/2", function()
    H.run(function()
      local server = http2.createServer(function(_, res)
        res:setHeader("connection", "connection-test")
        res:setHeader("foobar", "baz")
        res:finish("body")
      end)
      local port = H.listen(server)
      local client = connect(port)
      local req = client:request({})
      local h = req:wait("response", 5000)
      assert.equal(200, h[":status"])
      assert.equal("baz", h.foobar)
      assert.is_nil(h.connection)
      assert.equal("body", req:readAll())
      client:close()
      server:close()
    end)
  end)

  it("options-max-headers-exceeds-nghttp2.js: a request block nghttp2 cannot compress: the client session and the stream error with code 9", function()
    H.run(function()
      local streams = 0
      local server, port = serve(nil, function() streams = streams + 1 end)
      local client = connect(port, { maxSendHeaderBlockLength = 100000 })
      local cerr, rerr, response
      client:on("error", function(e) cerr = e end)
      local req = client:request({ ["test-header"] = string.rep("A", 90000) })
      req:on("error", function(e) rerr = e end)
      req:on("response", function() response = true end)
      req:finish()
      assert(req:wait("close", 5000))
      assert.is_true(H.wait_until(function() return cerr end, 2000))
      assert.equal("ERR_HTTP2_SESSION_ERROR", cerr.code)
      assert.equal("Session closed with error code 9", cerr.message)
      assert.equal("Session closed with error code 9", rerr and rerr.message)
      assert.is_nil(response)
      assert.equal(0, streams)
      server:close()
    end)
  end)

  it("res-writable-properties.js: res.writableHighWaterMark is the socket's, writableLength counts what waits, 0 with writableFinished at 'finish'", function()
    H.run(function()
      local r = {}
      local server = http2.createServer(function(req, res)
        r.hwm = { req.socket.writableHighWaterMark, res.writableHighWaterMark }
        r.len0 = res.writableLength
        res:write("")
        local len = res.writableLength
        res:write("asd")
        r.len3 = res.writableLength - len
        res:finish()
        res:on("finish", function() r.finish = { res.writableLength, res.writableFinished } end)
      end)
      local port = H.listen(server)
      local client = connect(port)
      local req = client:request({})
      assert.equal("asd", req:readAll())
      assert.is_true(H.wait_until(function() return r.finish end, 2000))
      assert.is_number(r.hwm[1])
      assert.equal(r.hwm[1], r.hwm[2])
      assert.equal(0, r.len0)
      assert.equal(3, r.len3)
      assert.same({ 0, true }, r.finish)
      client:close()
      server:close()
    end)
  end)

  it("res-corked.js: res:cork() and res:uncork() count in res.writableCorked; the writes all arrive", function()
    H.run(function()
      local counts = {}
      local server = http2.createServer(function(_, res)
        counts[#counts + 1] = res.writableCorked
        res:write(string.rep("1", 1024))
        for _ = 1, 3 do
          res:cork()
          counts[#counts + 1] = res.writableCorked
          res:write(string.rep("1", 1024))
        end
        res:cork()
        counts[#counts + 1] = res.writableCorked
        for _ = 1, 4 do
          res:uncork()
          counts[#counts + 1] = res.writableCorked
        end
        res:finish()
      end)
      local port = H.listen(server)
      local client = connect(port)
      local req = client:request({})
      assert.equal(4096, #req:readAll())
      assert.same({ 0, 1, 2, 3, 4, 3, 2, 1, 0 }, counts)
      client:close()
      server:close()
    end)
  end)

  it("options-server-request.js and options-server-response.js: the Http2ServerRequest and Http2ServerResponse options add methods to req and res", function()
    H.run(function()
      local MyRequest = {
        getUserAgent = function(self) return self.headers["user-agent"] or "unknown" end,
      }
      local MyResponse = {
        status = function(self, code) return self:writeHead(code, { ["Content-Type"] = "text/plain" }) end,
      }
      local agent
      local server = http2.createServer({ Http2ServerRequest = MyRequest, Http2ServerResponse = MyResponse },
        function(req, res)
          agent = req:getUserAgent()
          res:status(200)
          res:finish()
        end)
      local port = H.listen(server)
      local client = connect(port)
      local req = client:request({ [":path"] = "/", ["User-Agent"] = "node-test" })
      local h = req:wait("response", 5000)
      req:readAll()
      assert.equal("node-test", agent)
      assert.equal(200, h[":status"])
      assert.equal("text/plain", h["content-type"])
      client:destroy()
      server:close()
    end)
  end)

  it("options-max-headers-exceeds-nghttp2.js: 1xx headers nghttp2 cannot compress end the server session with code 9 ('sessionError'); the client sees no error", function()
    H.run(function()
      local told
      local server = http2.createServer({ maxSendHeaderBlockLength = 100000 })
      server:on("stream", function(st)
        st:additionalHeaders({ ["test-header"] = string.rep("A", 90000) })
        st:respond()
        st:finish()
      end)
      server:on("sessionError", function(e, s) told = { e.code, e.message, s ~= nil } end)
      local port = H.listen(server)
      local client = connect(port)
      local cerr, rerr, response
      client:on("error", function(e) cerr = e end)
      local req = client:request({})
      req:on("error", function(e) rerr = e end)
      req:on("response", function() response = true end)
      assert(req:wait("close", 5000))
      assert.is_true(H.wait_until(function() return told end, 2000))
      assert.same({ "ERR_HTTP2_SESSION_ERROR", "Session closed with error code 9", true }, told)
      assert.is_nil(cerr)
      assert.is_nil(rerr)
      assert.is_nil(response)
      client:destroy()
      server:close()
    end)
  end)

  it("stream-client.js: a new stream is not aborted", function()
    H.run(function()
      local aborted
      local server, port = serve(nil, function(st)
        aborted = st.aborted
        st:respond()
        st:finish("ok")
      end)
      local client = connect(port)
      assert.equal("ok", client:request({}):readAll())
      assert.is_false(aborted)
      client:close()
      server:close()
    end)
  end)

  it("perf_hooks.js: 'http2' entries for sessions and streams carry Node's numeric fields, also under detail", function()
    H.run(function()
      local entries = {}
      local obs = h2lua.PerformanceObserver.new(function(list)
        for _, e in ipairs(list:getEntries()) do entries[#entries + 1] = e end
      end)
      obs:observe({ type = "http2" })
      local body = "<html><head></head><body><h1>this is some data</h2></body></html>"
      local flags_seen, scheme
      local server, port = serve(nil, function(st, h, flags)
        flags_seen, scheme = flags, h[":scheme"]
        st:respond({ ["content-type"] = "text/html", [":status"] = 200 })
        st:write(body:sub(1, 20))
        st:finish(body:sub(21))
      end)
      server:on("session", function(s) s:ping(function() end) end)
      local client = connect(port)
      client:on("connect", function() client:ping(function() end) end)
      local req = client:request({})
      assert.equal(body, req:readAll())
      assert(req:wait("close", 5000))
      client:close()
      server:close()
      assert.is_true(H.wait_until(function()
        local n = 0
        for _, e in ipairs(entries) do if e.name == "Http2Session" then n = n + 1 end end
        return n >= 2
      end, 3000))
      obs:disconnect()
      assert.equal(5, flags_seen)
      assert.equal("http", scheme)
      local kinds = {}
      for _, e in ipairs(entries) do
        assert.equal("http2", e.entryType)
        assert.is_number(e.startTime)
        assert.is_number(e.duration)
        local fields = e.name == "Http2Session" and { "pingRTT", "streamAverageDuration", "streamCount",
          "framesReceived", "framesSent", "bytesWritten", "bytesRead", "maxConcurrentStreams" }
          or { "timeToFirstByte", "timeToFirstByteSent", "timeToFirstHeader", "bytesWritten", "bytesRead" }
        for _, f in ipairs(fields) do
          assert.is_number(e[f], e.name .. "." .. f)
          assert.is_number(e.detail[f], e.name .. ".detail." .. f)
        end
        if e.name == "Http2Session" then
          kinds[e.type] = e
          assert.equal(1, e.detail.streamCount)
        end
      end
      assert.truthy(kinds.server and kinds.client)
      assert.is_true(kinds.server.detail.framesReceived >= 3)
    end)
  end)

  it("pack-end-stream-flag.js: the end of a response goes with its last DATA (4 frames for the client), a later end in its own (5)", function()
    H.run(function()
      local server, port = serve(nil, function(st, h)
        st:respond({ ["content-type"] = "text/html", [":status"] = 200 })
        if h[":path"] == "/singleEnd" then
          st:finish("OK")
        elseif h[":path"] == "/sequentialEnd" then
          st:write("OK")
          st:finish()
        else
          st:write("OK", function() st:finish() end)
        end
      end)
      local frames = {}
      for _, path in ipairs({ "/singleEnd", "/sequentialEnd", "/delayedEnd" }) do
        local got
        local obs = h2lua.PerformanceObserver.new(function(list)
          for _, e in ipairs(list:getEntries()) do
            if e.name == "Http2Session" and e.detail.type == "client" then got = e.detail.framesReceived end
          end
        end)
        obs:observe({ type = "http2" })
        local client = connect(port)
        assert(client:wait("connect", 5000))
        local req = client:request({ [":path"] = path })
        req:readAll()
        client:close()
        assert.is_true(H.wait_until(function() return got end, 3000))
        obs:disconnect()
        frames[#frames + 1] = got
      end
      assert.same({ 4, 4, 5 }, frames)
      server:close()
    end)
  end)

  it("padding-aligned.js: PADDING_STRATEGY_ALIGNED pads HEADERS and DATA to multiples of 8 (with their 9-byte header); CALLBACK is ALIGNED", function()
    H.run(function()
      assert.equal(C.PADDING_STRATEGY_ALIGNED, C.PADDING_STRATEGY_CALLBACK)
      local server, port = serve({ paddingStrategy = C.PADDING_STRATEGY_ALIGNED }, function(st)
        st:respond({ ["content-type"] = "text/html", [":status"] = 200 })
        st:finish("<h1>Hello World.</h1>")
      end)
      local rc, out = raw(port, "preface; settings; settings-ack; headers 1 end :path=/a; wait 0.3")
      assert.equal(0, rc)
      local n = 0
      for kind, len in out:gmatch("(%u+) stream=1 flags=%d+ len=(%d+)") do
        if kind == "HEADERS" or kind == "DATA" then
          n = n + 1
          assert.equal(0, (tonumber(len) + 9) % 8, kind .. " len=" .. len)
        end
      end
      assert.is_true(n >= 2, out)
      server:close()
    end)
  end)

  it("reset-flood.js: invalid requests past maxSessionInvalidFrames make the server close the session (GOAWAY ENHANCE_YOUR_CALM)", function()
    H.run(function()
      local server, port = serve({ maxSessionInvalidFrames = 100 }, function(st)
        st:respond({ ["content-type"] = "text/plain", [":status"] = 200 })
        st:finish("Hello, world!\n")
      end)
      local reqs = {}
      for i = 1, 120 do reqs[i] = "headers " .. (2 * i - 1) .. " end raw :status=200" end
      local rc, out = raw(port, "preface; settings; settings-ack; " .. table.concat(reqs, "; ") .. "; wait 0.5")
      assert.equal(0, rc)
      assert.truthy(out:find("GOAWAY stream=0 flags=0 len=8 last=%d+ code=11"), out:sub(-400))
      server:close()
    end)
  end)

  it("server-startup.js: createServer takes TLS-only options quietly; a silent TCP client gets the server's 'timeout'", function()
    H.run(function()
      local plain = http2.createServer({ key = H.readfile(PKI .. "/server-key.pem"),
        cert = H.readfile(PKI .. "/server.pem") }, function() end)
      local port = H.listen(plain)
      plain:close()
      local server = http2.createServer()
      local timed
      server:setTimeout(200, function() timed = true end)
      port = H.listen(server)
      local sock = h2lua.net.connect(port, "127.0.0.1")
      assert(sock:wait("connect", 5000))
      sock:write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0")
      assert.is_true(H.wait_until(function() return timed end, 3000))
      sock:destroy()
      server:close()
    end)
  end)

  it("socket-proxy-handler-for-has.js: over TLS the Compatibility API's req.socket.encrypted is true", function()
    H.run(function()
      local enc
      local server = http2.createSecureServer({ key = H.readfile(PKI .. "/server-key.pem"),
        cert = H.readfile(PKI .. "/server.pem") }, function(req, res)
        enc = req.socket.encrypted
        res:finish()
      end)
      local port = H.listen(server)
      local client = http2.connect("https://localhost:" .. port, { ca = H.readfile(PKI .. "/ca.pem") })
      local req = client:request({})
      assert(req:wait("response", 5000))
      req:readAll()
      assert.is_true(enc)
      client:close()
      server:close()
    end)
  end)

  it("serve-file.js: over TLS, a file piped as the response; a missing one answered 404", function()
    H.run(function()
      local path = os.tmpname()
      local data = H.bytes(70000, 5)
      H.writefile(path, data)
      local server = http2.createSecureServer({ key = H.readfile(PKI .. "/server-key.pem"),
        cert = H.readfile(PKI .. "/server.pem") })
      server:on("stream", function(st, h)
        local f = h[":path"] == "/file" and io.open(path, "rb")
        if not f then
          st:respond({ [":status"] = 404 })
          st:finish()
          return
        end
        st:respond({ [":status"] = 200 })
        local chunks = {}
        for c in function() return f:read(16384) end do chunks[#chunks + 1] = c end
        f:close()
        source(chunks):pipe(st)
      end)
      local port = H.listen(server)
      local client = http2.connect("https://localhost:" .. port, { ca = H.readfile(PKI .. "/ca.pem") })
      local r1 = client:request({ [":path"] = "/file" }, { endStream = true })
      local r2 = client:request({ [":path"] = "/does_not_exist" }, { endStream = true })
      assert.equal(200, r1:wait("response", 5000)[":status"])
      assert.equal(404, r2:wait("response", 5000)[":status"])
      assert.equal(data, r1:readAll())
      assert.equal("", r2:readAll())
      client:close()
      server:close()
      os.remove(path)
    end)
  end)

  it("tls-disconnect.js: h2load over TLS killed mid-run; the server serves the next client", function()
    H.run(function()
      local path = os.tmpname()
      H.writefile(path, H.bytes(1024 * 1024, 2))
      local server = http2.createSecureServer({ key = H.readfile(PKI .. "/server-key.pem"),
        cert = H.readfile(PKI .. "/server.pem") }, function(_, res)
        res.stream:respondWithFile(path)
      end)
      local port = H.listen(server)
      H.sh("timeout -s INT 0.3 h2load -n 1000 -c 4 https://127.0.0.1:" .. port .. "/ >/dev/null 2>&1", 10)
      local client = http2.connect("https://localhost:" .. port, { ca = H.readfile(PKI .. "/ca.pem") })
      local req = client:request({})
      assert.equal(200, req:wait("response", 5000)[":status"])
      assert.equal(1024 * 1024, #req:readAll())
      client:close()
      server:close()
      os.remove(path)
    end)
  end)
end)
