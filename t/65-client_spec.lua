-- The client: http2.connect against our server, nghttpd and a Node.js
-- http2 server; errors for refused connections, unknown hosts and peers
-- that do not speak HTTP/2. Every wait is bounded.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

-- Starts a background program that prints "listening PORT"; returns the
-- port and a stop function. Waits inside the loop.
local function start(cmd)
  local out = os.tmpname()
  os.execute(string.format("(%s > %s 2>&1 & echo $! > %s.pid) ", cmd, out, out))
  local pid = tonumber(H.readfile(out .. ".pid") or "")
  local port
  for _ = 1, 400 do
    port = (H.readfile(out) or ""):match("listening (%d+)")
    if port then break end
    h2lua.sleep(10)
  end
  return tonumber(port), function()
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    os.remove(out)
    os.remove(out .. ".pid")
  end
end

local function node_server() return start("node t/fixtures/node-h2-server.js") end

local function get(session, path, options)
  local req = session:request({ [":path"] = path }, options)
  local headers = assert(req:wait("response", 5000))
  return req, headers, req:readAll()
end

describe("client", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("talks to our own server: GET, POST with a body, many streams", function()
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(st, h)
        local body = st:readAll()
        st:respond({ ["x-method"] = h[":method"], ["x-authority"] = h[":authority"] })
        st:finish(h[":path"] .. ":" .. #body)
      end)
      local port = H.listen(server)
      local s = http2.connect("http://127.0.0.1:" .. port)
      assert.is_true(s.connecting)
      assert(s:wait("connect", 2000))
      assert.is_false(s.connecting)
      assert.equal(1, s.type)
      assert.equal("127.0.0.1", s.socket.remoteAddress)
      assert.equal(port, s.socket.remotePort)
      local req, h, body = get(s, "/x")
      assert.equal(200, h[":status"])
      assert.equal("GET", h["x-method"])
      assert.equal("127.0.0.1:" .. port, h["x-authority"])
      assert.equal("/x:0", body)
      assert.is_number(req.id)
      local post = s:request({ [":method"] = "POST", [":path"] = "/p" })
      local big = H.bytes(300000, 4)
      for i = 1, #big, 50000 do
        if not post:write(big:sub(i, i + 49999)) then post:wait("drain", 5000) end
      end
      post:finish()
      assert.equal(200, post:wait("response", 5000)[":status"])
      assert.equal("/p:300000", post:readAll())
      local reqs = {}
      for i = 1, 50 do reqs[i] = s:request({ [":path"] = "/m" .. i }) end
      for i = 1, 50 do
        reqs[i]:wait("response", 5000)
        assert.equal("/m" .. i .. ":0", reqs[i]:readAll())
      end
      s:close()
      assert.is_true(s.destroyed)
    end)
  end)

  it("requests beyond the server's maxConcurrentStreams wait for a slot", function()
    H.run(function()
      local server = http2.createServer({ settings = { maxConcurrentStreams = 2 } })
      local open, most = 0, 0
      server:on("stream", function(st)
        open = open + 1
        most = math.max(most, open)
        h2lua.sleep(30)
        open = open - 1
        st:respond()
        st:finish("ok")
      end)
      local port = H.listen(server)
      local s = http2.connect("http://127.0.0.1:" .. port)
      s:wait("remoteSettings", 2000)
      local reqs = {}
      for i = 1, 6 do reqs[i] = s:request({ [":path"] = "/" .. i }) end
      for i = 1, 6 do
        assert.equal(200, reqs[i]:wait("response", 5000)[":status"])
        assert.equal("ok", reqs[i]:readAll())
      end
      assert.equal(2, most)
      s:destroy()
    end)
  end)

  it("validates request headers like Node", function()
    H.run(function()
      local server = http2.createServer()
      local port = H.listen(server)
      local s = http2.connect("http://127.0.0.1:" .. port)
      local function code(h, o) local _, e = pcall(s.request, s, h, o) return e and e.code end
      assert.equal("ERR_HTTP2_CONNECT_AUTHORITY", code({ [":method"] = "CONNECT", [":authority"] = nil }))
      assert.equal("ERR_HTTP2_CONNECT_SCHEME", code({ [":method"] = "CONNECT", [":authority"] = "a:1", [":scheme"] = "http" }))
      assert.equal("ERR_HTTP2_CONNECT_PATH", code({ [":method"] = "CONNECT", [":authority"] = "a:1", [":path"] = "/" }))
      assert.equal("ERR_HTTP2_INVALID_PSEUDOHEADER", code({ [":foo"] = "x" }))
      assert.equal("ERR_HTTP2_INVALID_CONNECTION_HEADERS", code({ connection = "close" }))
      assert.equal("ERR_INVALID_ARG_TYPE", code("x"))
      assert.equal("ERR_INVALID_ARG_TYPE", code({}, { endStream = "yes" }))
      assert.equal("ERR_HTTP2_CONNECT_PROTOCOL_NOT_ENABLED", code({ [":method"] = "CONNECT", [":protocol"] = "websocket" }))
      s:close(function() end)
      assert.equal("ERR_HTTP2_GOAWAY_SESSION", code({}))
      s:destroy()
      assert.equal("ERR_HTTP2_INVALID_SESSION", code({}))
      local ok, e = pcall(http2.connect, "ftp://x")
      assert.equal("ERR_HTTP2_UNSUPPORTED_PROTOCOL", e.code)
    end)
  end)

  it("extended CONNECT once the server enabled it", function()
    H.run(function()
      local server = http2.createServer({ settings = { enableConnectProtocol = true } })
      server:on("stream", function(st, h)
        st:respond()
        st:finish(tostring(h[":protocol"]) .. " " .. tostring(h[":path"]))
      end)
      local port = H.listen(server)
      local s = http2.connect("http://127.0.0.1:" .. port)
      s:wait("remoteSettings", 2000)
      assert.is_true(s.remoteSettings.enableConnectProtocol)
      local req = s:request({ [":method"] = "CONNECT", [":protocol"] = "websocket", [":path"] = "/chat" },
        { endStream = false })
      assert.equal(200, req:wait("response", 2000)[":status"])
      req:finish()
      assert.equal("websocket /chat", req:readAll())
      s:destroy()
    end)
  end)

  it("against a Node.js server: bodies, trailers both ways, 1xx, resets", function()
    H.run(function()
      local port, stop = node_server()
      assert.is_not_nil(port, "node server did not start")
      local s = http2.connect("http://127.0.0.1:" .. port)
      local _, h, body = get(s, "/plain")
      assert.equal("node says hi to /plain", body)
      assert.equal("text/plain", h["content-type"])
      -- a body up
      local up = s:request({ [":method"] = "PUT", [":path"] = "/echo" })
      up:finish(H.bytes(100000, 8))
      assert.equal("PUT", up:wait("response", 5000)["x-method"])
      assert.equal(H.sha256(H.bytes(100000, 8)), H.sha256(up:readAll()))
      -- trailers both ways
      local t = s:request({ [":method"] = "POST", [":path"] = "/trailers" }, { waitForTrailers = true })
      t:on("wantTrailers", function() t:sendTrailers({ ["x-client-trailer"] = "hello" }) end)
      t:finish("data")
      assert.equal(200, t:wait("response", 5000)[":status"])
      local tr
      t:on("trailers", function(x) tr = x end)
      assert.equal("body", t:readAll())
      for _ = 1, 100 do if tr then break end h2lua.sleep(5) end
      assert.equal("yes", tr["x-server-trailer"])
      assert.equal("hello", tr["x-echo"])
      -- informational headers
      local info = s:request({ [":path"] = "/info" })
      local hints
      info:on("headers", function(x) hints = x end)
      assert.equal(200, info:wait("response", 5000)[":status"])
      assert.equal(103, hints[":status"])
      assert.equal("</a.css>; rel=preload", hints.link)
      assert.equal("after hints", info:readAll())
      -- a reset from the server: 'error' with the code, then 'close'
      local r = s:request({ [":path"] = "/reset" })
      local events = {}
      r:on("error", function(e) events[#events + 1] = e.code end)
      r:on("close", function() events[#events + 1] = "close " .. r.rstCode end)
      r:wait("close", 5000)
      assert.same({ "ERR_HTTP2_STREAM_ERROR", "close 2" }, events)
      s:close()
      stop()
    end)
  end)

  it("receives a push (session 'stream', then 'push'), and refuses it with enablePush = false", function()
    H.run(function()
      local port, stop = node_server()
      local s = http2.connect("http://127.0.0.1:" .. port)
      local pushed, push_headers, pushed_req
      s:on("stream", function(stream, req_headers)
        pushed_req = req_headers
        stream:on("push", function(h) push_headers = h end)
        pushed = stream:readAll()
      end)
      local _, _, body = get(s, "/push")
      assert.equal("main body", body)
      for _ = 1, 200 do if pushed then break end h2lua.sleep(5) end
      assert.equal("/pushed.css", pushed_req[":path"])
      assert.equal("text/css", push_headers["content-type"])
      assert.equal("pushed body", pushed)
      s:close()
      local s2 = http2.connect("http://127.0.0.1:" .. port, { settings = { enablePush = false } })
      local _, _, body2 = get(s2, "/push")
      assert.equal("no push allowed", body2)
      s2:close()
      stop()
    end)
  end)

  it("GOAWAY mid-flight: the open stream completes, later ones fail as refused", function()
    H.run(function()
      local port, stop = node_server()
      local s = http2.connect("http://127.0.0.1:" .. port)
      local goaway
      s:on("goaway", function(code, last, data) goaway = goaway or { code, last, data } end)
      local req = s:request({ [":path"] = "/goaway" })
      req:wait("response", 5000)
      assert.equal("partial end", req:readAll())
      assert.same({ 0, req.id, "bye" }, goaway)
      local ok, e = pcall(s.request, s, { [":path"] = "/late" })
      assert.is_false(ok)
      assert.truthy(e.code == "ERR_HTTP2_GOAWAY_SESSION" or e.code == "ERR_HTTP2_INVALID_SESSION")
      stop()
    end)
  end)

  it("against nghttpd: a GET and a server push", function()
    H.run(function()
      local dir = os.tmpname()
      os.remove(dir)
      os.execute("mkdir -p " .. dir)
      H.writefile(dir .. "/index.html", "nghttpd index")
      H.writefile(dir .. "/style.css", "body{}")
      local port = 20000 + math.random(0, 20000)
      local pid
      for _ = 1, 5 do
        os.execute(string.format("nghttpd --no-tls -d %s -p/=/style.css %d >/dev/null 2>&1 & echo $! > %s.pid",
          dir, port, dir))
        pid = tonumber(H.readfile(dir .. ".pid"))
        h2lua.sleep(200)
        if os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
        port = port + 1
      end
      local s = http2.connect("http://127.0.0.1:" .. port)
      local pushed
      s:on("stream", function(stream) pushed = stream:readAll() end)
      local _, h, body = get(s, "/")
      assert.equal(200, h[":status"])
      assert.equal("nghttpd index", body)
      for _ = 1, 200 do if pushed then break end h2lua.sleep(5) end
      assert.equal("body{}", pushed)
      s:close()
      os.execute("kill " .. pid)
      os.execute("rm -rf " .. dir .. " " .. dir .. ".pid")
    end)
  end)

  it("connection failures: ECONNREFUSED, ENOTFOUND, and a peer that is not HTTP/2", function()
    H.run(function()
      local s = http2.connect("http://127.0.0.1:1")
      local err = s:wait("error", 5000)
      assert.equal("ECONNREFUSED", err.code)
      assert.equal("connect", err.syscall)
      local s2 = http2.connect("http://nonexistent.invalid:80")
      local err2 = s2:wait("error", 10000)
      assert.equal("ENOTFOUND", err2.code)
      -- an HTTP/1.1 server: it answers our preface with a 400 and closes
      local port, stop = start(H.PY .. " -c \"import socket,sys\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('127.0.0.1',0));s.listen(5);print('listening',s.getsockname()[1]);sys.stdout.flush()\nwhile True:\n  c,_=s.accept();c.recv(100);c.sendall(b'HTTP/1.1 400 Bad Request\\r\\nConnection: close\\r\\n\\r\\n');c.close()\"")
      local s3 = http2.connect("http://127.0.0.1:" .. port)
      s3:on("error", function() end)
      local req = s3:request({ [":path"] = "/" })
      local h, why = req:wait("response", 5000)
      assert.is_nil(h)
      assert.equal("closed", why)
      s3:wait("close", 5000)
      assert.is_true(s3.destroyed)
      stop()
    end)
  end)

  it("h2lua.fetch: status, headers and body; one session per origin; errors as nil, err", function()
    H.run(function()
      local server = http2.createServer()
      local sessions = 0
      server:on("session", function() sessions = sessions + 1 end)
      server:on("stream", function(st, h)
        local body = st:readAll()
        st:respond({ ["x-got"] = #body })
        st:finish(h[":method"] .. " " .. h[":path"])
      end)
      local port = H.listen(server)
      local base = "http://127.0.0.1:" .. port
      local status, headers, body = h2lua.fetch(base .. "/a?q=1")
      assert.equal(200, status)
      assert.equal("GET /a?q=1", body)
      status, headers, body = h2lua.fetch(base .. "/b", { method = "POST", body = "xyz", headers = { ["x-h"] = "1" } })
      assert.equal("POST /b", body)
      assert.equal("3", headers["x-got"])
      assert.equal(1, sessions)
      local none, err = h2lua.fetch("http://127.0.0.1:1/")
      assert.is_nil(none)
      assert.equal("ECONNREFUSED", err.code)
    end)
    local ok, e = pcall(h2lua.fetch, "http://127.0.0.1:1/")
    assert.equal("ERR_H2LUA_NOT_WAITABLE", e.code)
  end)
end)

describe("client and server extensions", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("ALTSVC and ORIGIN frames: sent by server sessions, seen by the client", function()
    H.run(function()
      local server = http2.createServer({ origins = { "https://a.example", "https://b.example:8443/x" } })
      server:on("stream", function(st)
        local s = st.session
        s:altsvc('h2=":8000"', "https://example.org:80/path")
        s:altsvc('h2=":9000"', st.id)
        local ok, e = pcall(s.altsvc, s, 'h2=":1"', "not a url")
        assert.equal("ERR_HTTP2_ALTSVC_INVALID_ORIGIN", e.code)
        ok, e = pcall(s.altsvc, s, 'h2=":1"', 0)
        assert.equal("ERR_OUT_OF_RANGE", e.code)
        ok, e = pcall(s.origin, s, "nope")
        assert.equal("ERR_HTTP2_INVALID_ORIGIN", e.code)
        st:respond()
        st:finish("ok")
      end)
      local port = H.listen(server)
      local c = http2.connect("http://127.0.0.1:" .. port, { maxReservedRemoteStreams = 10,
        maxHeaderListPairs = 50 })
      local alts, origins = {}, nil
      c:on("altsvc", function(alt, origin, id) alts[#alts + 1] = { alt, origin, id } end)
      c:on("origin", function(list) origins = list end)
      local req = c:request({ [":path"] = "/" })
      req:wait("response", 5000)
      assert.equal("ok", req:readAll())
      for _ = 1, 100 do if #alts >= 2 and origins then break end h2lua.sleep(5) end
      assert.same({ "https://a.example", "https://b.example:8443" }, origins)
      assert.same({ 'h2=":8000"', "https://example.org:80", 0 }, alts[1])
      assert.same({ 'h2=":9000"', "", req.id }, alts[2])
      c:close()
    end)
    local ok, e = pcall(http2.connect, "http://127.0.0.1:1", { maxSessionMemory = -5 })
    assert.equal("ERR_OUT_OF_RANGE", e.code)
  end)
end)

describe("server push", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("pushStream (callback and waiting form) reaches our client and nghttp; pushAllowed follows enablePush", function()
    H.run(function()
      local server = http2.createServer()
      local errs = {}
      server:on("stream", function(st, h)
        if h[":path"] ~= "/" then return end
        assert.is_true(st.pushAllowed)
        st:respond()
        st:pushStream({ [":path"] = "/a.css" }, function(err, push, ph)
          assert.is_nil(err)
          assert.equal("/a.css", ph[":path"])
          push:respond({ ["content-type"] = "text/css" })
          push:finish("a{}")
          local _, e = pcall(push.pushStream, push, { [":path"] = "/x" }, function() end)
          errs[#errs + 1] = e.code
        end)
        local err, push2 = st:pushStream({ [":path"] = "/b.js" })
        assert.is_nil(err)
        push2:respond()
        push2:finish("b()")
        st:finish("main")
      end)
      local port = H.listen(server)
      local c = http2.connect("http://127.0.0.1:" .. port)
      local pushed = {}
      c:on("stream", function(stream, req)
        pushed[req[":path"]] = stream:readAll()
      end)
      local req = c:request({ [":path"] = "/" })
      req:wait("response", 5000)
      assert.equal("main", req:readAll())
      for _ = 1, 200 do if pushed["/a.css"] and pushed["/b.js"] then break end h2lua.sleep(5) end
      assert.equal("a{}", pushed["/a.css"])
      assert.equal("b()", pushed["/b.js"])
      assert.same({ "ERR_HTTP2_NESTED_PUSH" }, errs)
      c:close()
      local rc, out = H.sh("nghttp -nv http://127.0.0.1:" .. port .. "/")
      assert.equal(0, rc)
      assert.truthy(out:find("recv PUSH_PROMISE frame", 1, true))
      -- a client that disabled push: pushAllowed is false, pushStream raises
      local allowed, code
      server:removeAllListeners("stream")
      server:on("stream", function(st)
        allowed = st.pushAllowed
        local _, e = pcall(st.pushStream, st, { [":path"] = "/z" }, function() end)
        code = e.code
        st:respond()
        st:finish()
      end)
      local c2 = http2.connect("http://127.0.0.1:" .. port, { settings = { enablePush = false } })
      c2:wait("connect", 2000)
      h2lua.sleep(50) -- the server learns our SETTINGS
      local r2 = c2:request({ [":path"] = "/" })
      r2:wait("response", 5000)
      assert.is_false(allowed)
      assert.equal("ERR_HTTP2_PUSH_DISABLED", code)
      c2:close()
    end)
  end)

  it("res:createPushResponse in the Compatibility API", function()
    H.run(function()
      local server = http2.createServer(function(req, res)
        if req.url ~= "/" then return end
        local err, pres = res:createPushResponse({ [":path"] = "/p.txt" })
        assert.is_nil(err)
        pres:setHeader("x-pushed", "1")
        pres:finish("pushed text")
        res:finish("page")
      end)
      local port = H.listen(server)
      local rc, out = H.sh("nghttp -nv http://127.0.0.1:" .. port .. "/")
      assert.equal(0, rc)
      assert.truthy(out:find(":path: /p.txt", 1, true))
      assert.truthy(out:find("x-pushed: 1", 1, true))
    end)
  end)
end)
