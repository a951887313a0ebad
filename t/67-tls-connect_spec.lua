-- h2lua.tls.connect: TLS client sockets (Node's tls.connect), alone and
-- as http2.connect's createConnection, against a server of a test CA made
-- here with openssl.
local H = require "helper"
local P = require "pki"
local http2 = require "http2"
local h2lua = require "h2lua"

local PKI
local function pem(name) return H.readfile(PKI .. "/" .. name .. ".pem") end

local function secure_server(opts)
  opts = opts or {}
  opts.key, opts.cert = pem("server-key"), pem("server")
  local server = http2.createSecureServer(opts)
  server:on("stream", function(st, h)
    st:respond({ ["x-alpn"] = st.session.alpnProtocol, ["x-sni"] = tostring(st.session.socket.servername) })
    st:finish("over tls " .. h[":path"])
  end)
  return server, H.listen(server)
end

describe("h2lua.tls.connect", function()
  setup(function() PKI = P.make() end)
  teardown(function() P.remove(PKI) end)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("a verified TLS socket: secureConnect, its TLS facts, bytes both ways (HTTP/1.1 by ALPN)", function()
    H.run(function()
      local server, port = secure_server({ allowHTTP1 = true })
      server:on("request", function(req, res) res:finish("h1 " .. req.url) end)
      local events = {}
      local s = h2lua.tls.connect({ port = port, host = "127.0.0.1", servername = "localhost",
        ca = pem("ca"), ALPNProtocols = { "http/1.1" } }, function() events[#events + 1] = "cb" end)
      s:on("connect", function() events[#events + 1] = "connect" end)
      assert.is_true(s.encrypted)
      assert.truthy(s:wait("secureConnect", 5000))
      assert.same({ "connect", "cb" }, events)
      assert.equal("http/1.1", s.alpnProtocol)
      assert.is_true(s.authorized)
      assert.equal("localhost", s.getPeerCertificate().subject.CN)
      assert.equal("TLSv1.3", s.getProtocol())
      assert.equal("127.0.0.1", s.remoteAddress)
      assert.equal(port, s.remotePort)
      s:write("GET /hi HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
      local all = s:readAll()
      assert.truthy(all:find("^HTTP/1.1 200"), all)
      assert.truthy(all:find("\r\n\r\n6\r\nh1 /hi\r\n0\r\n\r\n$"), all)
      s:wait("close", 5000)
    end)
  end)

  it("a certificate that does not verify: 'error' with Node's code; rejectUnauthorized = false connects unauthorized", function()
    H.run(function()
      local _, port = secure_server()
      local s = h2lua.tls.connect({ port = port, host = "127.0.0.1", servername = "localhost", ca = pem("other-ca") })
      local err = s:wait("error", 5000)
      assert.equal("UNABLE_TO_GET_ISSUER_CERT_LOCALLY", err.code)
      s:wait("close", 5000)
      s = h2lua.tls.connect({ port = port, host = "127.0.0.1", ca = pem("ca"), servername = "example.org" })
      err = s:wait("error", 5000)
      assert.equal("ERR_TLS_CERT_ALTNAME_INVALID", err.code)
      s:wait("close", 5000)
      s = h2lua.tls.connect({ port = port, host = "127.0.0.1", ca = pem("other-ca"),
        rejectUnauthorized = false, ALPNProtocols = { "h2" } })
      assert.truthy(s:wait("secureConnect", 5000))
      assert.is_false(s.authorized)
      assert.equal("UNABLE_TO_GET_ISSUER_CERT_LOCALLY", s.authorizationError)
      s:destroy()
      s:wait("close", 5000)
      -- refused: the socket's errno, as net.connect
      local probe = h2lua.net.createServer()
      probe:listen(0, "127.0.0.1")
      local free = probe:address().port
      probe:close()
      s = h2lua.tls.connect({ port = free, host = "127.0.0.1", ca = pem("ca") })
      err = s:wait("error", 5000)
      assert.equal("ECONNREFUSED", err.code)
      s:wait("close", 5000)
      assert.equal("ERR_SOCKET_BAD_PORT", H.code_of(h2lua.tls.connect, { port = "x" }))
      assert.equal("ERR_INVALID_ARG_TYPE", H.code_of(h2lua.tls.connect, { port = 1, ALPNProtocols = "h2" }))
    end)
  end)

  it("createConnection returning an h2lua.tls socket: HTTP/2 over that TLS, the session encrypted", function()
    H.run(function()
      local _, port = secure_server()
      local made = 0
      local session = http2.connect("https://localhost:" .. port, {
        createConnection = function(authority, options)
          made = made + 1
          return h2lua.tls.connect({ port = port, host = "127.0.0.1", servername = "localhost",
            ca = pem("ca"), ALPNProtocols = { "h2" } })
        end })
      local req = session:request({ [":path"] = "/x" })
      local h = req:wait("response", 5000)
      assert.equal(200, h[":status"])
      assert.equal("h2", h["x-alpn"])
      assert.equal("localhost", h["x-sni"])
      assert.equal("over tls /x", req:readAll())
      assert.equal(1, made)
      assert.is_true(session.encrypted)
      assert.equal("h2", session.alpnProtocol)
      assert.equal("h2", session.socket.alpnProtocol)
      assert.is_true(session.socket.authorized)
      session:close()
      session:wait("close", 5000)
      -- a socket that did not offer h2: the session fails as a TLS connect without h2 does
      local s2 = http2.connect("https://localhost:" .. port, {
        createConnection = function()
          return h2lua.tls.connect({ port = port, host = "127.0.0.1", servername = "localhost",
            ca = pem("ca"), ALPNProtocols = { "http/1.1" } })
        end })
      local err = s2:wait("error", 5000)
      assert.truthy(err)
      s2:wait("close", 5000)
    end)
  end)
end)
