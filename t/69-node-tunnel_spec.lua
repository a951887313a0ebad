-- Ports of Node's tests of connections that are not TCP sockets: an
-- HTTP/2 session inside a CONNECT stream (client-proxy-over-http2.js),
-- TLS then HTTP/2 over such a stream (client-connection-tunnelling.js),
-- and a Lua duplex given to createConnection (client-jsstream-destroy.js).
-- Real servers on 127.0.0.1; the proxies are made with our server API.
local H = require "helper"
local P = require "pki"
local http2 = require "http2"
local h2lua = require "h2lua"
local net = require "h2lua.net"
local Emitter = require "h2lua.emitter"

local PKI
local function pem(name) return H.readfile(PKI .. "/" .. name .. ".pem") end

describe("node tunnels", function()
  setup(function() PKI = P.make() end)
  teardown(function() P.remove(PKI) end)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("client-proxy-over-http2.js: a session tunnelled in a CONNECT stream, served by server:emit('connection', stream)", function()
    H.run(function()
      local server = http2.createServer()
      local connects, requests, seen = 0, 0, nil
      server:once("connect", function(req, res)
        connects = connects + 1
        assert.equal("CONNECT", req.headers[":method"])
        res:writeHead(200)
        -- the tunnel unwrapped here: its stream served as a connection
        server:emit("connection", res.stream)
      end)
      server:once("request", function(req, res)
        requests = requests + 1
        seen = req.headers[":path"]
        res:writeHead(204)
        res:finish()
      end)
      local port = H.listen(server)
      local proxy = H.connect(port)
      local tunnel = proxy:request({ [":method"] = "CONNECT", [":authority"] = "example.com:80" })
      local h = tunnel:wait("response", 5000)
      assert.equal(200, h[":status"])
      local inner = http2.connect("http://example.com", {
        createConnection = function() return tunnel end })
      local req = inner:request({ [":path"] = "/inside" })
      local r = req:wait("response", 5000)
      assert.equal(204, r[":status"])
      assert.equal("/inside", seen)
      assert.equal(1, connects)
      assert.equal(1, requests)
      -- a second request over the same tunnel: the session stays usable
      local req2 = inner:request({ [":path"] = "/again", [":method"] = "POST" })
      req2:finish("body")
      server:on("request", function(rq, rs) rs:finish("echo " .. rq.headers[":path"]) end)
      assert.equal("echo /again", req2:readAll())
      inner:close()
      assert.truthy(inner:wait("close", 5000))
      -- the inner session's end ends the tunnel stream both ways
      assert.truthy(tunnel:wait("close", 5000))
      proxy:close()
      assert.truthy(proxy:wait("close", 5000))
      server:close()
    end)
  end)

  it("client-proxy-over-http2.js: 2 MiB each way through the tunnelled session arrive whole", function()
    H.run(function()
      local server = http2.createServer()
      local up = H.bytes(2 * 1024 * 1024, 7)
      local down = H.bytes(2 * 1024 * 1024, 8)
      server:on("connect", function(req, res)
        res:writeHead(200)
        server:emit("connection", res.stream)
      end)
      server:on("request", function(req, res)
        local body = req:readAll()
        res:setHeader("x-up", H.sha256(body or ""))
        for i = 1, #down, 65536 do
          if not res:write(down:sub(i, i + 65535)) then res:wait("drain") end
        end
        res:finish()
      end)
      local port = H.listen(server)
      local proxy = H.connect(port)
      local tunnel = proxy:request({ [":method"] = "CONNECT", [":authority"] = "example.com:80" })
      assert.equal(200, tunnel:wait("response", 5000)[":status"])
      local inner = http2.connect("http://example.com", { createConnection = function() return tunnel end })
      local req = inner:request({ [":path"] = "/big", [":method"] = "POST" })
      for i = 1, #up, 65536 do
        if not req:write(up:sub(i, i + 65535)) then req:wait("drain") end
      end
      req:finish()
      local h = req:wait("response", 20000)
      assert.equal(H.sha256(up), h["x-up"])
      local got = req:readAll()
      assert.equal(#down, #got)
      assert.equal(H.sha256(down), H.sha256(got))
      inner:close()
      assert.truthy(inner:wait("close", 5000))
      proxy:close()
      assert.truthy(proxy:wait("close", 5000))
      server:close()
    end, 60000)
  end)

  -- A forwarding CONNECT proxy (h2c) to |target|'s port: each tunnel
  -- stream piped to and from a TCP socket.
  local function forwarding_proxy(target)
    local proxy = http2.createServer()
    proxy:on("stream", function(st, h)
      assert.equal("CONNECT", h[":method"])
      local up = net.connect(target, "127.0.0.1")
      up:once("connect", function()
        st:respond({ [":status"] = 200 })
        st:pipe(up)
        up:pipe(st)
      end)
      up:on("error", function() st:close(http2.constants.NGHTTP2_CONNECT_ERROR) end)
      st:on("close", function() if not up.destroyed then up:destroy() end end)
    end)
    return proxy, H.listen(proxy)
  end

  local function secure_target()
    local server = http2.createSecureServer({ key = pem("server-key"), cert = pem("server") })
    server:on("stream", function(st, h)
      if h[":path"] == "/down" then
        st:respond()
        local body = H.bytes(4 * 1024 * 1024, 10)
        for i = 1, #body, 262144 do
          if not st:write(body:sub(i, i + 262143)) then st:wait("drain") end
        end
        st:finish()
        return
      end
      if h[":path"] == "/up" then
        local body = st:readAll()
        st:respond()
        st:finish(H.sha256(body or ""))
        return
      end
      st:respond({ ["x-alpn"] = st.session.alpnProtocol })
      st:finish("tls inside " .. h[":path"])
    end)
    return server, H.listen(server)
  end

  it("client-connection-tunnelling.js: TLS over a CONNECT stream, then HTTP/2 over that TLS", function()
    H.run(function()
      local _, tport = secure_target()
      local _, pport = forwarding_proxy(tport)
      local proxy = H.connect(pport)
      local tunnel = proxy:request({ [":method"] = "CONNECT", [":authority"] = "localhost:" .. tport })
      assert.equal(200, tunnel:wait("response", 5000)[":status"])
      local secured = false
      local tls = h2lua.tls.connect({ socket = tunnel, servername = "localhost", ca = pem("ca"),
        ALPNProtocols = { "h2" } }, function() secured = true end)
      assert.truthy(tls:wait("secureConnect", 5000))
      assert.is_true(secured)
      assert.is_true(tls.encrypted)
      assert.is_true(tls.authorized)
      assert.equal("h2", tls.alpnProtocol)
      local inner = http2.connect("https://localhost", { createConnection = function() return tls end })
      local req = inner:request({ [":path"] = "/deep" })
      local h = req:wait("response", 5000)
      assert.equal(200, h[":status"])
      assert.equal("h2", h["x-alpn"])
      assert.equal("tls inside /deep", req:readAll())
      assert.is_true(inner.encrypted)
      inner:close()
      assert.truthy(inner:wait("close", 5000))
      assert.truthy(tunnel:wait("close", 5000))
      proxy:close()
      assert.truthy(proxy:wait("close", 5000))
    end)
  end)

  it("client-connection-tunnelling.js: a net server hands its sockets and a CONNECT tunnel to a TLS server (emit('connection')); TLS and HTTP/2 inside", function()
    H.run(function()
      local server = http2.createSecureServer({ key = pem("server-key"), cert = pem("server") })
      local secured = 0
      server:on("secureConnection", function() secured = secured + 1 end)
      -- as Node's test: every connection reaches the TLS server through a
      -- plain net server, the tunnel too
      local front = net.createServer(function(sock) server:emit("connection", sock) end)
      server:on("connect", function(req, res)
        res:writeHead(200, {})
        front:emit("connection", res.stream)
      end)
      server:on("request", function(req, res)
        res:writeHead(200, { ["x-encrypted"] = tostring(req.stream.session.encrypted) })
        res:finish("inside " .. req.headers[":path"])
      end)
      H.listen(server) -- ours must listen to serve what it is given
      front:listen(0, "127.0.0.1")
      assert.truthy(front:wait("listening", 5000))
      local port = front:address().port
      local proxy = http2.connect("https://localhost:" .. port, { ca = pem("ca") })
      local tunnel = proxy:request({ [":method"] = "CONNECT", [":authority"] = "example.com:443" })
      assert.equal(200, tunnel:wait("response", 5000)[":status"])
      local tls = h2lua.tls.connect({ socket = tunnel, servername = "localhost", ca = pem("ca"),
        ALPNProtocols = { "h2" } })
      assert.truthy(tls:wait("secureConnect", 5000))
      assert.equal("h2", tls.alpnProtocol)
      local inner = http2.connect("https://localhost", { createConnection = function() return tls end })
      local req = inner:request({ [":path"] = "/twice" })
      local h = req:wait("response", 5000)
      assert.equal(200, h[":status"])
      assert.equal("true", h["x-encrypted"])
      assert.equal("inside /twice", req:readAll())
      assert.equal(2, secured) -- the proxy's connection and the tunnelled one
      inner:close()
      assert.truthy(inner:wait("close", 5000))
      assert.truthy(tunnel:wait("close", 5000))
      proxy:close()
      assert.truthy(proxy:wait("close", 5000))
      front:close()
      server:close()
    end)
  end)

  it("client-connection-tunnelling.js: destroying a TLS socket over a CONNECT stream resets the stream (CANCEL) and reports it", function()
    H.run(function()
      local _, tport = secure_target()
      local _, pport = forwarding_proxy(tport)
      local proxy = H.connect(pport)
      local tunnel = proxy:request({ [":method"] = "CONNECT", [":authority"] = "localhost:" .. tport })
      assert.equal(200, tunnel:wait("response", 5000)[":status"])
      local tls = h2lua.tls.connect({ socket = tunnel, ALPNProtocols = { "h2" }, rejectUnauthorized = false })
      local errs = {}
      tls:on("error", function(e) errs[#errs + 1] = e end)
      tls:destroy() -- before its handshake could finish
      assert.truthy(tunnel:wait("close", 5000))
      assert.equal(http2.constants.NGHTTP2_CANCEL, tunnel.rstCode)
      assert.truthy(H.wait_until(function() return #errs > 0 end, 5000))
      assert.equal(1, #errs)
      assert.equal("ERR_HTTP2_STREAM_ERROR", errs[1].code)
      assert.equal("Stream closed with error code NGHTTP2_CANCEL", errs[1].message)
      -- the proxy session is unharmed
      local again = proxy:request({ [":method"] = "CONNECT", [":authority"] = "localhost:" .. tport })
      assert.equal(200, again:wait("response", 5000)[":status"])
      again:close()
      proxy:close()
      assert.truthy(proxy:wait("close", 5000))
    end)
  end)

  -- A duplex made in Lua over |sock| (Node's test subclasses Duplex): the
  -- duck type net.over documents, nothing more.
  local function lua_duplex(sock)
    local d = Emitter.new({ destroyed = false, writes = 0, refusals = 0, slow = false })
    function d:write(data, cb)
      self.writes = self.writes + 1
      local more = sock:write(data, cb)
      if self.slow and more then
        -- a slow duplex: every write refused, 'drain' a millisecond later
        more = false
        if not self._drain_due then
          self._drain_due = true
          h2lua.setTimeout(function() self._drain_due = false self:emit("drain") end, 1)
        end
      end
      if not more then self.refusals = self.refusals + 1 end
      return more
    end
    function d:finish() if not sock.destroyed then sock:finish() end end
    d.pauses = 0
    function d:pause() self.pauses = self.pauses + 1 sock:pause() end
    function d:resume() sock:resume() end
    function d:destroy()
      if self.destroyed then return end
      self.destroyed = true
      self:emit("close")
    end
    sock:on("data", function(c) d:emit("data", c) end)
    sock:on("drain", function() d:emit("drain") end)
    sock:on("end", function() d:emit("end") end)
    sock:on("close", function() d:destroy() end)
    return d
  end

  local function tls_to(port)
    return h2lua.tls.connect({ port = port, host = "127.0.0.1", servername = "localhost",
      ca = pem("ca"), ALPNProtocols = { "h2" } })
  end

  it("client-jsstream-destroy.js: a session over a Lua duplex carries requests, big bodies both ways with backpressure (write() false and pause())", function()
    H.run(function()
      local _, port = secure_target()
      local sock = tls_to(port)
      assert.truthy(sock:wait("secureConnect", 5000))
      local d = lua_duplex(sock)
      local client = http2.connect("https://localhost:" .. port, { createConnection = function() return d end })
      local req = client:request({ [":path"] = "/duck" })
      assert.equal(200, req:wait("response", 5000)[":status"])
      assert.equal("tls inside /duck", req:readAll())
      assert.truthy(d.writes > 0)
      -- 1 MiB up through a slow duplex: it refuses (write() false) and its
      -- 'drain' resumes the session's bytes, none lost
      d.slow = true
      local up = H.bytes(1024 * 1024, 9)
      local big = client:request({ [":path"] = "/up", [":method"] = "POST" })
      for i = 1, #up, 65536 do
        if not big:write(up:sub(i, i + 65535)) then big:wait("drain") end
      end
      big:finish()
      assert.equal(200, big:wait("response", 20000)[":status"])
      assert.equal(H.sha256(up), big:readAll())
      assert.truthy(d.refusals > 0)
      d.slow = false
      local down = client:request({ [":path"] = "/down" })
      local got = down:readAll()
      assert.equal(H.sha256(H.bytes(4 * 1024 * 1024, 10)), H.sha256(got))
      -- 4 MiB down: the duplex is paused while the pair is full, resumed on its drain
      assert.truthy(d.pauses > 0)
      client:close()
      assert.truthy(client:wait("close", 5000))
      assert.truthy(H.wait_until(function() return d.destroyed end, 5000))
    end)
  end)

  it("client-jsstream-destroy.js: the socket under a Lua duplex destroyed mid-request closes the request and the session", function()
    H.run(function()
      local server = http2.createSecureServer({ key = pem("server-key"), cert = pem("server") })
      local port = H.listen(server)
      local sock = tls_to(port)
      assert.truthy(sock:wait("secureConnect", 5000))
      local d = lua_duplex(sock)
      local client = http2.connect("https://localhost:" .. port, { createConnection = function() return d end })
      local requests = 0
      server:on("request", function()
        requests = requests + 1
        sock:destroy()
      end)
      local req = client:request({ [":path"] = "/cut" })
      req:on("error", function() end)
      assert.truthy(req:wait("close", 5000))
      assert.equal(1, requests)
      assert.truthy(d.destroyed)
      client:on("error", function() end)
      client:close()
      assert.truthy(client:wait("close", 5000))
      server:close()
    end)
  end)

  it("createConnection and tls.connect({socket=}) reject what is not a duplex; a server's own 'connection' (the session's socket) is not re-served", function()
    H.run(function()
      local server, port = H.serve()
      local conns, sessions = {}, 0
      server:on("connection", function(s) conns[#conns + 1] = s end)
      server:on("session", function() sessions = sessions + 1 end)
      local c = H.connect(port)
      local r = c:request({ [":path"] = "/" })
      assert.equal("ok", r:readAll())
      assert.equal(1, #conns)
      assert.equal(1, sessions)
      assert.is_false(net.is_duplex(conns[1]))
      c:close()
      assert.truthy(c:wait("close", 5000))
      assert.truthy(H.wait_until(function() return next(net.live_sockets) == nil end, 5000))
      assert.equal("ERR_INVALID_RETURN_VALUE", H.code_of(http2.connect, "http://localhost:1",
        { createConnection = function() return { write = true } end }))
      assert.equal("ERR_INVALID_ARG_TYPE", H.code_of(h2lua.tls.connect, { socket = 42 }))
    end)
  end)
end)

describe("node tunnels under valgrind", function()
  it("a session in a CONNECT stream, TLS over one destroyed early, a Lua duplex, a TLS server given a socket and a stream leak nothing and touch no freed memory", function()
    local pki = P.make()
    local app = os.tmpname() .. ".lua"
    H.writefile(app, ([[
      local http2 = require "http2"
      local h2lua = require "h2lua"
      local function rd(p) local f = assert(io.open(p)); local s = f:read("a"); f:close(); return s end
      local server = http2.createServer()
      server:on("connect", function(req, res)
        res:writeHead(200)
        server:emit("connection", res.stream)
      end)
      server:on("request", function(req, res) res:finish("inner " .. req.headers[":path"]) end)
      server:listen(0, "127.0.0.1")
      server:wait("listening")
      local port = server:address().port
      local proxy = http2.connect("http://127.0.0.1:" .. port)
      local tunnel = proxy:request({ [":method"] = "CONNECT", [":authority"] = "x:1" })
      tunnel:wait("response")
      local inner = http2.connect("http://x", { createConnection = function() return tunnel end })
      local r = inner:request({ [":path"] = "/a" })
      print(r:readAll())
      inner:close()
      inner:wait("close")
      local t2 = proxy:request({ [":method"] = "CONNECT", [":authority"] = "x:1" })
      t2:wait("response")
      local tls = h2lua.tls.connect({ socket = t2, rejectUnauthorized = false, ALPNProtocols = { "h2" } })
      tls:on("error", function(e) print(e.code) end)
      tls:destroy()
      t2:wait("close")
      local sec = http2.createSecureServer({ key = rd("%s/server-key.pem"), cert = rd("%s/server.pem") })
      sec:on("stream", function(st) st:respond() st:finish("duck") end)
      sec:listen(0, "127.0.0.1")
      sec:wait("listening")
      local sock = h2lua.tls.connect({ port = sec:address().port, host = "127.0.0.1", servername = "localhost",
        ca = rd("%s/ca.pem"), ALPNProtocols = { "h2" } })
      sock:wait("secureConnect")
      local Emitter = require "h2lua.emitter"
      local d = Emitter.new({ destroyed = false })
      function d:write(c, cb) return sock:write(c, cb) end
      function d:finish() if not sock.destroyed then sock:finish() end end
      function d:destroy() if not self.destroyed then self.destroyed = true self:emit("close") end end
      sock:on("data", function(c) d:emit("data", c) end)
      sock:on("end", function() d:emit("end") end)
      sock:on("close", function() d:destroy() end)
      local c = http2.connect("https://localhost", { createConnection = function() return d end })
      local r2 = c:request({ [":path"] = "/" })
      print(r2:readAll())
      c:close()
      c:wait("close")
      -- a TLS server given a net socket and a tunnel stream
      local ts = http2.createSecureServer({ key = rd("%s/server-key.pem"), cert = rd("%s/server.pem") })
      local front = require("h2lua.net").createServer(function(so) ts:emit("connection", so) end)
      ts:on("connect", function(req, res) res:writeHead(200) front:emit("connection", res.stream) end)
      ts:on("request", function(req, res) res:finish("twice") end)
      ts:listen(0, "127.0.0.1")
      ts:wait("listening")
      front:listen(0, "127.0.0.1")
      front:wait("listening")
      local tp = http2.connect("https://localhost:" .. front:address().port, { ca = rd("%s/ca.pem") })
      local t3 = tp:request({ [":method"] = "CONNECT", [":authority"] = "x:443" })
      t3:wait("response")
      local tls3 = h2lua.tls.connect({ socket = t3, servername = "localhost", ca = rd("%s/ca.pem"),
        ALPNProtocols = { "h2" } })
      local c3 = http2.connect("https://localhost", { createConnection = function() return tls3 end })
      local r3 = c3:request({ [":path"] = "/" })
      print(r3:readAll())
      c3:close()
      c3:wait("close")
      tp:close()
      tp:wait("close")
      front:close()
      ts:close()
      proxy:close()
      proxy:wait("close")
      server:close()
      sec:close()
    ]]):format(pki, pki, pki, pki, pki, pki, pki))
    local log = os.tmpname()
    local cmd = string.format(H.VALGRIND, log) .. " " .. H.BIN .. " " .. app .. " 2>/dev/null"
    local p = io.popen(cmd)
    local out = p:read("a")
    local ok = p:close()
    local report = H.readfile(log) or ""
    os.remove(log)
    os.remove(app)
    P.remove(pki)
    assert.is_true(ok, out .. report)
    assert.equal("inner /a\nERR_HTTP2_STREAM_ERROR\nduck\ntwice\n", out)
    H.assert_valgrind_clean(report)
  end)
end)
