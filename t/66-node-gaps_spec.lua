-- Node.js's http2 tests whose first port left a departure behind (issue
-- 10): each case here is the Node file's behaviour that h2lua now follows,
-- in our words, against a real server on 127.0.0.1. Every wait is bounded.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local function url(port) return "http://127.0.0.1:" .. port end

describe("Node http2 tests, departures closed", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("connect-method-extended-cant-turn-off.js: settings({enableConnectProtocol = false}) after true is sent; the client ends the session and its CONNECT request errors; no 'stream' (within 3 s)", function()
    H.run(function()
      local streams = 0
      local server = http2.createServer({ settings = { enableConnectProtocol = true } })
      server:on("stream", function() streams = streams + 1 end)
      server:on("session", function(session)
        session:settings({ enableConnectProtocol = false }, function() end)
      end)
      local port = H.listen(server)
      local client = http2.connect(url(port))
      client:on("error", function() end)
      local seen, req_err
      client:once("remoteSettings", function(settings)
        seen = settings.enableConnectProtocol
        local ok, req = pcall(client.request, client, { [":method"] = "CONNECT", [":protocol"] = "foo" })
        if not ok then req_err = req return end
        req:on("error", function(e) req_err = e end)
      end)
      assert.truthy(H.wait_until(function() return req_err ~= nil end, 3000), "the request got no error")
      assert.is_true(seen)
      assert.truthy(H.wait_until(function() return client.destroyed end, 3000), "the client session was not ended")
      assert.equal(0, streams)
      client:destroy()
      server:close()
    end)
  end)

  it("https-fallback-http-server-options.js: Http1IncomingMessage and Http1ServerResponse serve HTTP/1.1 requests (curl --http1.1), the Http2* classes HTTP/2 ones", function()
    H.run(function()
      local server = http2.createServer({
        allowHTTP1 = true,
        Http1IncomingMessage = { getUserAgent = function(self) return self.headers["user-agent"] or "unknown" end },
        Http1ServerResponse = { status = function(self, code)
          return self:writeHead(code, { ["content-type"] = "application/json" })
        end },
        Http2ServerRequest = { kind = "h2" },
      }, function(req, res)
        if req.httpVersion == "2.0" then
          res:finish(tostring(req.kind) .. " " .. tostring(req.getUserAgent) .. " " .. tostring(res.status))
          return
        end
        res:status(200)
        res:finish(req.httpVersion .. " " .. req:getUserAgent() .. " " .. tostring(req.kind))
      end)
      local port = H.listen(server)
      local rc, out, err = H.sh("curl -sS -i --max-time 5 --http1.1 -A node-test " .. url(port) .. "/", 10)
      assert.equal(0, rc, err)
      assert.truthy(out:find("^HTTP/1.1 200 OK\r\n"), out)
      assert.truthy(out:lower():find("content-type: application/json", 1, true), out)
      assert.truthy(out:find("\r\n\r\n1.1 node%-test nil$"), out)
      rc, out, err = H.sh("curl -sS --max-time 5 --http2-prior-knowledge " .. url(port) .. "/", 10)
      assert.equal(0, rc, err)
      assert.equal("h2 nil nil", out)
      server:close()
    end)
  end)

  it("pipe-named-pipe.js (the listening half): listen(path) on a UNIX domain socket serves h2c and HTTP/1.1 (curl --unix-socket), address() is the path, a path in use is EADDRINUSE, close() removes it", function()
    H.run(function()
      local path = os.tmpname() .. ".sock"
      local server = http2.createServer({ allowHTTP1 = true }, function(req, res)
        res:finish(req.httpVersion .. " " .. req.url)
      end)
      server:listen(path)
      assert(server:wait("listening", 2000))
      assert.equal(path, server:address())
      for _, v in ipairs({ { "--http2-prior-knowledge", "2.0 /a" }, { "--http1.1", "1.1 /a" } }) do
        local rc, out, err = H.sh("curl -sS --max-time 5 " .. v[1] .. " --unix-socket " .. path .. " http://localhost/a", 10)
        assert.equal(0, rc, err)
        assert.equal(v[2], out)
      end
      local other = http2.createServer()
      other:listen({ path = path })
      local e = other:wait("error", 2000)
      assert.equal("EADDRINUSE", e and e.code)
      server:close()
      assert.is_nil(io.open(path)) -- removed
      os.remove(path:sub(1, -6))
    end)
  end)

  it("pipe-named-pipe.js: a session over h2lua.net.connect(path) (createConnection) uploads a body whole to a server on that path; a missing path is ENOENT (within 5 s)", function()
    H.run(function()
      local path = os.tmpname() .. ".sock"
      local server = http2.createServer(function(req, res)
        local body = req:readAll()
        res:finish(#body .. " " .. H.sha256(body))
      end)
      server:listen(path)
      assert(server:wait("listening", 2000))
      local data = H.bytes(300000, 3)
      local client = http2.connect("http://localhost:80", {
        createConnection = function() return h2lua.net.connect(path) end,
      })
      local req = client:request({ [":method"] = "POST", [":path"] = "/" }, { endStream = false })
      req:finish(data)
      assert.equal(#data .. " " .. H.sha256(data), req:readAll())
      client:close()
      local bad = h2lua.net.connect({ path = path .. ".missing" })
      local e = bad:wait("error", 5000)
      assert.equal("ENOENT", e and e.code)
      server:close()
      os.remove(path:sub(1, -6))
    end)
  end)

  it("h2lua.net servers listen on a path too: a socket echoes through it, address() is the path, close() removes it", function()
    H.run(function()
      local net = h2lua.net
      local path = os.tmpname() .. ".sock"
      local srv = net.createServer(function(sock) sock:pipe(sock) end)
      srv:listen(path)
      assert(srv:wait("listening", 2000))
      assert.equal(path, srv:address())
      local c = net.connect(path)
      assert(c:wait("connect", 2000))
      c:finish("over a path")
      assert.equal("over a path", c:readAll())
      srv:close()
      assert.is_nil(io.open(path))
      os.remove(path:sub(1, -6))
    end)
  end)

  it("generic-streams.js (the server side): server:emit('connection', socket) with an h2lua.net socket serves it (h2c, and HTTP/1.1 with allowHTTP1); its 'connection' listeners see that socket, once", function()
    H.run(function()
      local net = h2lua.net
      local server = http2.createServer({ allowHTTP1 = true }, function(req, res)
        res:finish("via " .. req.httpVersion)
      end)
      local conns = {}
      server:on("connection", function(sock) conns[#conns + 1] = getmetatable(sock) == net.Socket and "net" or "own" end)
      H.listen(server) -- the server's engine state lives with a listener
      -- a plain net server accepts; each socket it gets is handed over
      local handed = net.createServer(function(sock) server:emit("connection", sock) end)
      handed:listen(0, "127.0.0.1")
      assert(handed:wait("listening", 2000))
      local hport = handed:address().port
      local client = http2.connect(url(hport))
      local req = client:request({ [":path"] = "/" })
      assert.equal("via 2.0", req:readAll())
      client:close()
      local rc, out, err = H.sh("curl -sS --max-time 5 --http1.1 " .. url(hport) .. "/", 10)
      assert.equal(0, rc, err)
      assert.equal("via 1.1", out)
      assert.same({ "net", "net" }, conns)
      handed:close()
      server:close()
    end)
  end)

  it("connect-tls-with-delay.js: createConnection returning an h2lua.tls socket that already read the server's SETTINGS runs the session over it (ALPN h2; within 5 s)", function()
    local PKI = os.tmpname() .. ".pki"
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. PKI .. " >/dev/null"))
    H.run(function()
      local server = http2.createSecureServer({
        key = H.readfile(PKI .. "/server-key.pem"), cert = H.readfile(PKI .. "/server.pem"),
      }, function(req, res) res:finish("over " .. req.stream.session.alpnProtocol) end)
      local port = H.listen(server)
      local options = { ALPNProtocols = { "h2" }, host = "127.0.0.1", servername = "localhost",
        port = port, rejectUnauthorized = false }
      local sock = h2lua.tls.connect(options)
      assert(sock:wait("secureConnect", 5000))
      assert.equal("h2", sock.alpnProtocol)
      h2lua.sleep(100) -- the server's SETTINGS has arrived on the socket
      local opts = {}
      for k, v in pairs(options) do opts[k] = v end
      opts.createConnection = function() return sock end
      local client = http2.connect("https://localhost:" .. port, opts)
      assert(client:wait("remoteSettings", 5000))
      assert.is_true(client.encrypted)
      assert.equal("h2", client.alpnProtocol)
      local req = client:request({ [":path"] = "/" })
      assert.equal("over h2", req:readAll())
      client:close()
      server:close()
    end)
    os.execute("rm -rf " .. PKI)
  end)
end)
