-- h2lua.fetch beyond the basics (t/65 has those): the TLS options of
-- http2.connect against a server with a test CA made here with openssl,
-- closing the pool, a script that fetches from its own server exiting,
-- and failures as nil, err.
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
    local peer = st.session.socket.getPeerCertificate()
    st:respond({ ["x-sni"] = tostring(st.session.socket.servername),
      ["x-client"] = peer.subject and peer.subject.CN or "none" })
    st:finish("secure " .. h[":path"])
  end)
  return server, H.listen(server)
end

describe("h2lua.fetch", function()
  setup(function() PKI = P.make() end)
  teardown(function() P.remove(PKI) end)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("fetches over TLS from a server of a private CA (ca, servername); one session per set of TLS options", function()
    H.run(function()
      local server, port = secure_server()
      local sessions = 0
      server:on("session", function() sessions = sessions + 1 end)
      local status, headers, body = h2lua.fetch("https://localhost:" .. port .. "/a", { ca = pem("ca") })
      assert.equal(200, status, tostring(headers))
      assert.equal("secure /a", body)
      assert.equal("localhost", headers["x-sni"])
      status, headers, body = h2lua.fetch("https://localhost:" .. port .. "/b", { ca = pem("ca") })
      assert.equal("secure /b", body)
      assert.equal(1, sessions)
      -- an IP address in the URL, the name to check given apart
      status, headers, body = h2lua.fetch("https://127.0.0.1:" .. port .. "/c",
        { ca = { pem("other-ca"), pem("ca") }, servername = "localhost" })
      assert.equal(200, status, tostring(headers))
      assert.equal("localhost", headers["x-sni"])
      assert.equal(2, sessions)
    end)
  end)

  it("a CA that did not sign the server's certificate: nil, err with the verification code; rejectUnauthorized = false fetches", function()
    H.run(function()
      local _, port = secure_server()
      local none, err = h2lua.fetch("https://localhost:" .. port .. "/", { ca = pem("other-ca") })
      assert.is_nil(none)
      assert.equal("table", type(err))
      assert.equal("UNABLE_TO_GET_ISSUER_CERT_LOCALLY", err.code)
      -- the system's CAs do not know the test CA either
      none, err = h2lua.fetch("https://localhost:" .. port .. "/")
      assert.is_nil(none)
      assert.equal("UNABLE_TO_GET_ISSUER_CERT_LOCALLY", err.code)
      -- the name is checked too
      none, err = h2lua.fetch("https://127.0.0.1:" .. port .. "/", { ca = pem("ca"), servername = "example.org" })
      assert.is_nil(none)
      assert.equal("ERR_TLS_CERT_ALTNAME_INVALID", err.code)
      local status, _, body = h2lua.fetch("https://localhost:" .. port .. "/x",
        { ca = pem("other-ca"), rejectUnauthorized = false })
      assert.equal(200, status)
      assert.equal("secure /x", body)
    end)
  end)

  it("a client certificate (key, cert) for a server that asks for one", function()
    H.run(function()
      -- it asks, and lets clients without one in (Node's requestCert, rejectUnauthorized = false)
      local _, port = secure_server({ ca = pem("ca"), requestCert = true, rejectUnauthorized = false })
      local url = "https://localhost:" .. port .. "/me"
      local status, headers, body = h2lua.fetch(url,
        { ca = pem("ca"), key = pem("client-key"), cert = pem("client") })
      assert.equal(200, status, tostring(headers))
      assert.equal("h2lua client", headers["x-client"])
      assert.equal("secure /me", body)
      -- without them, a session of its own, with no certificate
      status, headers = h2lua.fetch(url, { ca = pem("ca") })
      assert.equal(200, status)
      assert.equal("none", headers["x-client"])
    end)
  end)

  it("failures come back as nil, err: an unsupported scheme, a bad URL, a bad TLS option", function()
    H.run(function()
      local none, err = h2lua.fetch("ftp://127.0.0.1:21/x")
      assert.is_nil(none)
      assert.equal("ERR_HTTP2_UNSUPPORTED_PROTOCOL", err.code)
      none, err = h2lua.fetch("no url at all")
      assert.is_nil(none)
      assert.equal("ERR_INVALID_URL", err.code)
      none, err = h2lua.fetch("https://localhost:1/", { ca = "not a certificate" })
      assert.is_nil(none)
      assert.equal("ERR_OSSL_PEM", err.code)
      -- misuse still raises: options that are not a table
      assert.equal("ERR_INVALID_ARG_TYPE", H.code_of(h2lua.fetch, "http://127.0.0.1:1/", 5))
    end)
  end)

  it("h2lua.fetchClose() closes the pooled sessions; the next fetch opens a new one", function()
    H.run(function()
      local server = http2.createServer()
      local open, sessions = 0, 0
      server:on("session", function(s)
        open, sessions = open + 1, sessions + 1
        s:on("close", function() open = open - 1 end)
      end)
      server:on("stream", function(st) st:respond(); st:finish("ok") end)
      local base = "http://127.0.0.1:" .. H.listen(server)
      assert.equal(200, (h2lua.fetch(base .. "/")))
      assert.equal(1, open)
      h2lua.fetchClose()
      assert.is_true(H.wait_until(function() return open == 0 end, 5000))
      local _, _, body = h2lua.fetch(base .. "/")
      assert.equal("ok", body)
      assert.equal(2, sessions)
    end)
  end)

  it("a script that fetches from its own server exits 0 once the fetches are done and the server closed", function()
    local script = os.tmpname() .. ".lua"
    H.writefile(script, [[
local http2, h2lua = require "http2", require "h2lua"
local server = http2.createServer()
server:on("stream", function(st, h) st:respond(); st:finish("got " .. h[":path"]) end)
server:listen(0, "127.0.0.1", function()
  h2lua.spawn(function()
    local base = "http://127.0.0.1:" .. server:address().port
    local _, _, a = h2lua.fetch(base .. "/one")
    local _, _, b = h2lua.fetch(base .. "/two")
    print(a, b)
    server:close(function() print("closed") end)
  end)
end)
]])
    local proc = H.start(script)
    local rc = H.status(proc, 10)
    local out, err = H.stop(proc)
    os.remove(script)
    assert.equal(0, rc, err)
    assert.equal("got /one\tgot /two\nclosed\n", out)
  end)
end)
