-- HTTP/2 over TLS: createSecureServer with ALPN, SNI, certificate reload,
-- unknownProtocol and tlsClientError, TLS details on sessions; and the
-- client's https: with certificate verification. Certificates come from
-- t/clients/mkcerts.py (a CA made by the tests).
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local pki = H.pki()
local PKI = pki.dir
local pem, key = pki.pem, pki.key

local function secure_server(opts)
  opts = opts or {}
  opts.key = opts.key or key("server")
  opts.cert = opts.cert or pem("server")
  local server = http2.createSecureServer(opts)
  server:on("stream", function(st, h)
    local s = st.session
    st:respond({ ["x-alpn"] = s.alpnProtocol, ["x-proto"] = s.socket.getProtocol(),
      ["x-sni"] = tostring(s.socket.servername), ["x-enc"] = tostring(s.encrypted) })
    st:finish("secure " .. h[":path"])
  end)
  return server, H.listen(server)
end

-- A TLS client that offers no ALPN and reports when the server closed.
local function no_alpn_client(port)
  return H.PY .. " -c " .. H.shq(([[
import socket, ssl, time
ctx = ssl.create_default_context(cafile='%s/ca.pem')
t = ctx.wrap_socket(socket.create_connection(('127.0.0.1', %d)), server_hostname='localhost')
t.settimeout(3)
t0 = time.time()
try:
    t.recv(100)
except Exception:
    pass
print('closed after %%.3f alpn=%%s' %% (time.time() - t0, t.selected_alpn_protocol()))
]]):format(PKI, port))
end

describe("TLS", function()
  setup(function()
    pki.make()
  end)
  teardown(pki.remove)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("serves curl --http2 over TLS, verified with the test CA (not -k)", function()
    H.run(function()
      local server, port = secure_server()
      local events = {}
      server:on("secureConnection", function(sock) events[#events + 1] = "secure " .. sock.alpnProtocol end)
      server:on("session", function(s) events[#events + 1] = "session " .. tostring(s.encrypted) end)
      local rc, out, err = H.sh("curl -sS -i --http2 --cacert " .. PKI .. "/ca.pem https://localhost:" .. port .. "/a")
      assert.equal(0, rc, err)
      assert.truthy(out:find("^HTTP/2 200"))
      assert.truthy(out:find("x-alpn: h2", 1, true))
      assert.truthy(out:find("x-enc: true", 1, true))
      assert.truthy(out:find("x-proto: TLSv1.3", 1, true))
      assert.truthy(out:find("x-sni: localhost", 1, true))
      assert.truthy(out:find("secure /a$"))
      assert.same({ "secure h2", "session true" }, events)
    end)
  end)

  it("serves nghttp over TLS; openssl s_client sees what ALPN agreed", function()
    H.run(function()
      local server, port = secure_server()
      local rc, out = H.sh("nghttp -v https://127.0.0.1:" .. port .. "/n")
      assert.equal(0, rc)
      assert.truthy(out:find("The negotiated protocol: h2", 1, true))
      assert.truthy(out:find("secure /n", 1, true))
      local _, s1 = H.sh("echo | openssl s_client -connect 127.0.0.1:" .. port .. " -alpn h2,http/1.1 2>&1")
      assert.truthy(s1:find("ALPN protocol: h2", 1, true), s1)
      local _, s2 = H.sh("echo | openssl s_client -connect 127.0.0.1:" .. port .. " -alpn http/1.1 2>&1")
      assert.truthy(s2:find("No ALPN negotiated", 1, true), s2)
    end)
    H.run(function()
      local server, port = secure_server({ allowHTTP1 = true })
      local _, s3 = H.sh("echo | openssl s_client -connect 127.0.0.1:" .. port .. " -alpn http/1.1 2>&1")
      assert.truthy(s3:find("ALPN protocol: http/1.1", 1, true), s3)
    end)
  end)

  it("a client without ALPN: 'unknownProtocol', then closed after unknownProtocolTimeout", function()
    H.run(function()
      local server, port = secure_server({ unknownProtocolTimeout = 200 })
      local got
      server:on("unknownProtocol", function(sock) got = sock end)
      local _, out, err = H.sh(no_alpn_client(port))
      assert.is_not_nil(got)
      assert.equal("127.0.0.1", got.remoteAddress)
      local took, alpn = out:match("closed after ([%d.]+) alpn=(%S+)")
      assert.equal("None", alpn, out .. err)
      assert.is_true(tonumber(took) >= 0.15 and tonumber(took) < 2, "closed after " .. tostring(took))
    end)
    H.run(function()
      local server, port = secure_server()
      local _, out = H.sh(no_alpn_client(port))
      local took = tonumber(out:match("closed after ([%d.]+)"))
      assert.is_true(took < 0.15, "closed after " .. tostring(took)) -- nobody listens: at once
    end)
  end)

  it("a garbage handshake: 'tlsClientError'; other sessions are not disturbed", function()
    H.run(function()
      local server, port = secure_server()
      local tls_err
      server:on("tlsClientError", function(e) tls_err = e end)
      local body
      h2lua.spawn(function()
        local _, out = H.sh("curl -sS --http2 --cacert " .. PKI .. "/ca.pem https://localhost:" .. port .. "/ok")
        body = out
      end)
      local rc = H.sh(H.PY .. " -c \"import socket; s=socket.create_connection(('127.0.0.1'," .. port ..
        ")); s.sendall(b'\\x16\\x03\\x01\\x00\\x05garbage-not-tls' * 10); s.settimeout(2)\ntry:\n  s.recv(100)\nexcept Exception: pass\"")
      assert.equal(0, rc)
      H.wait_until(function() return tls_err and body end, 5000)
      assert.is_table(tls_err)
      assert.is_string(tls_err.code)
      assert.equal("secure /ok", body)
    end)
  end)

  it("SNI picks the context added for the name; setSecureContext reloads the certificate", function()
    H.run(function()
      local server, port = secure_server()
      server:addContext("other.test", { key = key("other"), cert = pem("other") })
      local base = " --http2 --cacert " .. PKI .. "/ca.pem --resolve other.test:" .. port .. ":127.0.0.1 "
      local rc, out, err = H.sh("curl -sS" .. base .. "https://other.test:" .. port .. "/sni")
      assert.equal(0, rc, err)
      assert.equal("secure /sni", out)
      rc, out = H.sh("curl -sS" .. base .. "https://localhost:" .. port .. "/default")
      assert.equal(0, rc)
      server:setSecureContext({ key = key("wronghost"), cert = pem("wronghost") })
      local rc2, _, err2 = H.sh("curl -sS --http2 --cacert " .. PKI .. "/ca.pem https://localhost:" .. port .. "/")
      assert.is_not.equal(0, rc2)
      assert.truthy(err2:find("example.com", 1, true) or err2:find("match", 1, true), err2)
      local ok, e = pcall(server.setSecureContext, server, { key = "not a key", cert = pem("server") })
      assert.is_false(ok)
      assert.truthy(e.code:find("^ERR_"))
    end)
  end)

  it("SNICallback picks the certificate for names addContext does not know", function()
    H.run(function()
      local asked = {}
      local server, port = secure_server({
        SNICallback = function(name, cb)
          asked[#asked + 1] = name
          if name == "other.test" then
            cb(nil, h2lua.tls.createSecureContext({ key = key("other"), cert = pem("other") }))
          else
            cb(nil, nil) -- the default certificate
          end
        end,
      })
      local base = " --http2 --cacert " .. PKI .. "/ca.pem --resolve other.test:" .. port .. ":127.0.0.1 "
      local rc, out, err = H.sh("curl -sS" .. base .. "https://other.test:" .. port .. "/cb")
      assert.equal(0, rc, err)
      assert.equal("secure /cb", out)
      rc, out = H.sh("curl -sS" .. base .. "https://localhost:" .. port .. "/default")
      assert.equal(0, rc)
      assert.same({ "other.test", "localhost" }, asked)
    end)
    local ok, e = pcall(http2.createSecureServer, { key = key("server"), cert = pem("server"), SNICallback = 1 })
    assert.equal("ERR_INVALID_ARG_TYPE", e.code)
  end)

  it("RSA and ECDSA key/cert pairs together: each client gets the one it can use", function()
    H.run(function()
      local _, port = secure_server({ key = { key("server-rsa"), key("server") },
        cert = { pem("server-rsa"), pem("server") } })
      local function cert_of(cipher)
        local _, out = H.sh("echo | openssl s_client -connect 127.0.0.1:" .. port ..
          " -tls1_2 -cipher " .. cipher .. " -CAfile " .. PKI .. "/ca.pem 2>&1")
        return out
      end
      local rsa_out = cert_of("ECDHE-RSA-AES128-GCM-SHA256")
      assert.truthy(rsa_out:find("Server public key is 2048 bit", 1, true), rsa_out)
      assert.truthy(rsa_out:find("Verify return code: 0 (ok)", 1, true))
      local ec_out = cert_of("ECDHE-ECDSA-AES128-GCM-SHA256")
      assert.truthy(ec_out:find("Server public key is 256 bit", 1, true), ec_out)
      assert.truthy(ec_out:find("Verify return code: 0 (ok)", 1, true))
    end)
  end)

  it("passphrase opens an encrypted key; ciphers limit the suites", function()
    local enc = PKI .. "/server-enc-key.pem"
    assert(os.execute("openssl pkey -in " .. PKI .. "/server-key.pem -aes256 -passout pass:s3cret -out " ..
      enc .. " 2>/dev/null"))
    H.run(function()
      local server = http2.createSecureServer({ key = H.readfile(enc), passphrase = "s3cret",
        cert = pem("server"), maxVersion = "TLSv1.2", ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384" })
      local cipher
      server:on("stream", function(st)
        cipher = st.session.socket.getCipher().name
        st:respond()
        st:finish("ok")
      end)
      local port = H.listen(server)
      local rc, out = H.sh("curl -sS --http2 --cacert " .. PKI .. "/ca.pem https://localhost:" .. port .. "/")
      assert.equal(0, rc)
      assert.equal("ok", out)
      assert.equal("ECDHE-ECDSA-AES256-GCM-SHA384", cipher)
    end)
    local ok, e = pcall(http2.createSecureServer, { key = H.readfile(enc), passphrase = "wrong", cert = pem("server") })
    assert.is_false(ok)
    assert.equal("ERR_OSSL_BAD_DECRYPT", e.code)
  end)

  it("maxVersion limits the protocol; bad key or version options raise", function()
    H.run(function()
      local server, port = secure_server({ maxVersion = "TLSv1.2" })
      local _, out = H.sh("curl -sS -i --http2 --cacert " .. PKI .. "/ca.pem https://localhost:" .. port .. "/")
      assert.truthy(out:find("x-proto: TLSv1.2", 1, true), out)
    end)
    local ok, e = pcall(http2.createSecureServer, { key = key("server"), cert = pem("other") })
    assert.is_false(ok)
    assert.equal("ERR_OSSL_KEY_VALUES_MISMATCH", e.code)
    ok, e = pcall(http2.createSecureServer, { key = key("server"), cert = pem("server"), minVersion = "SSLv3" })
    assert.equal("ERR_TLS_INVALID_PROTOCOL_VERSION", e.code)
  end)

  it("our client over https: verifies against ca, reports bad certificates with Node's codes", function()
    H.run(function()
      local _, port = secure_server()
      local ca = pem("ca")
      local s = http2.connect("https://localhost:" .. port, { ca = ca })
      assert(s:wait("connect", 5000))
      assert.is_true(s.encrypted)
      assert.equal("h2", s.alpnProtocol)
      assert.equal("TLSv1.3", s.socket.getProtocol())
      assert.equal("localhost", s.socket.getPeerCertificate().subject.CN)
      assert.same({ "https://localhost:" .. port }, s.originSet)
      local req = s:request({ [":path"] = "/c" })
      assert.equal(200, req:wait("response", 5000)[":status"])
      assert.equal("secure /c", req:readAll())
      s:close()
      -- the system CAs do not know our test CA
      local e = http2.connect("https://localhost:" .. port):wait("error", 5000)
      assert.is_true(e.code == "UNABLE_TO_VERIFY_LEAF_SIGNATURE" or e.code == "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", e.code)
      -- unless told not to check
      local s2 = http2.connect("https://localhost:" .. port, { rejectUnauthorized = false })
      assert(s2:wait("connect", 5000))
      s2:destroy()
    end)
    for _, c in ipairs({ { "expired", "CERT_HAS_EXPIRED" }, { "wronghost", "ERR_TLS_CERT_ALTNAME_INVALID" },
      { "selfsigned", "DEPTH_ZERO_SELF_SIGNED_CERT" } }) do
      H.run(function()
        local _, port = secure_server({ key = key(c[1]), cert = pem(c[1]) })
        local e = http2.connect("https://localhost:" .. port, { ca = pem("ca") }):wait("error", 5000)
        assert.equal(c[2], e.code)
        assert.is_string(e.message)
      end)
    end
  end)

  it("our client: servername for SNI, and a client certificate the server sees", function()
    H.run(function()
      local server, port = secure_server({ ca = pem("ca"), requestCert = true })
      server:addContext("other.test", { key = key("other"), cert = pem("other"), ca = pem("ca"), requestCert = true })
      local subject
      server:on("session", function(s)
        local c = s.socket.getPeerCertificate()
        subject = c.subject and c.subject.CN
      end)
      local s = http2.connect("https://127.0.0.1:" .. port, { ca = pem("ca"), servername = "other.test",
        key = key("client"), cert = pem("client") })
      assert(s:wait("connect", 5000))
      assert.equal("other.test", s.socket.getPeerCertificate().subject.CN)
      local req = s:request({ [":path"] = "/sni" })
      req:wait("response", 5000)
      assert.equal("secure /sni", req:readAll())
      assert.equal("h2lua client", subject)
      s:close()
    end)
  end)

  it("requestCert as Node: a client certificate asked for and verified; rejectUnauthorized = false lets any client in, unauthorized; a ca alone asks for none", function()
    H.run(function()
      local function serve(opts)
        local server, port = secure_server(opts)
        local seen = { sessions = {}, tls_errors = 0 }
        server:on("session", function(s)
          local c = s.socket.getPeerCertificate()
          seen.sessions[#seen.sessions + 1] = { authorized = s.socket.authorized,
            why = s.socket.authorizationError, cn = c.subject and c.subject.CN }
        end)
        server:on("tlsClientError", function() seen.tls_errors = seen.tls_errors + 1 end)
        return server, port, seen
      end
      local function curl(port, who)
        local cert = who and (" --cert " .. PKI .. "/" .. who .. ".pem --key " .. PKI .. "/" .. who .. "-key.pem") or ""
        return H.sh("curl -sS --max-time 5 --http2 --cacert " .. PKI .. "/ca.pem" .. cert ..
          " https://localhost:" .. port .. "/m")
      end
      -- requestCert, rejectUnauthorized by default
      local server, port, seen = serve({ ca = pem("ca"), requestCert = true })
      local rc, out, err = curl(port, "client")
      assert.equal(0, rc, err)
      assert.equal("secure /m", out)
      assert.same({ authorized = true, cn = "h2lua client" }, seen.sessions[1])
      rc = curl(port, nil) -- no certificate
      assert.is_not.equal(0, rc)
      rc = curl(port, "selfsigned") -- one the ca did not sign
      assert.is_not.equal(0, rc)
      assert.truthy(H.wait_until(function() return seen.tls_errors == 2 end, 5000), "tlsClientError " .. seen.tls_errors)
      assert.equal(1, #seen.sessions)
      server:close()
      -- requestCert, rejectUnauthorized = false: in, and told why not authorized
      server, port, seen = serve({ ca = pem("ca"), requestCert = true, rejectUnauthorized = false })
      rc, out, err = curl(port, nil)
      assert.equal(0, rc, err)
      assert.equal("secure /m", out)
      rc, out, err = curl(port, "selfsigned")
      assert.equal(0, rc, err)
      assert.equal("secure /m", out)
      rc, out, err = curl(port, "client")
      assert.equal(0, rc, err)
      assert.equal(3, #seen.sessions)
      assert.is_false(seen.sessions[1].authorized)
      assert.is_nil(seen.sessions[1].cn)
      assert.is_false(seen.sessions[2].authorized)
      assert.equal("localhost", seen.sessions[2].cn)
      assert.is_string(seen.sessions[2].why)
      assert.same({ authorized = true, cn = "h2lua client" }, seen.sessions[3])
      assert.equal(0, seen.tls_errors)
      server:close()
      -- a ca without requestCert: no certificate is asked for, so a client's is never sent
      server, port, seen = serve({ ca = pem("ca") })
      rc, out, err = curl(port, "client")
      assert.equal(0, rc, err)
      assert.equal("secure /m", out)
      assert.same({ authorized = false }, seen.sessions[1])
      server:close()
    end)
  end)

  it("our client against nghttpd and a Node.js server over TLS", function()
    H.run(function()
      local port, stop = H.nghttpd({ ["index.html"] = "tls index" },
        ("%%d %s/server-key.pem %s/server.pem"):format(PKI, PKI))
      local s = http2.connect("https://localhost:" .. port, { ca = pem("ca") })
      assert(s:wait("connect", 5000))
      local req = s:request({ [":path"] = "/" })
      assert.equal(200, req:wait("response", 5000)[":status"])
      assert.equal("tls index", req:readAll())
      s:close()
      stop()
    end)
    H.run(function()
      local script = os.tmpname() .. ".js"
      H.writefile(script, ([[
        const http2 = require('http2'); const fs = require('fs');
        const s = http2.createSecureServer({ key: fs.readFileSync('%s/server-key.pem'),
          cert: fs.readFileSync('%s/server.pem') });
        s.on('stream', (st, h) => { st.respond({ ':status': 200 }); st.end('node tls ' + h[':path']); });
        s.listen(0, '127.0.0.1', () => console.log('listening ' + s.address().port));
      ]]):format(PKI, PKI))
      local port, stop = H.start_listening("node " .. script)
      local s = http2.connect("https://localhost:" .. port, { ca = pem("ca") })
      local req = s:request({ [":path"] = "/x" })
      assert.equal(200, req:wait("response", 5000)[":status"])
      assert.equal("node tls /x", req:readAll())
      s:close()
      stop()
      os.remove(script)
    end)
  end)
end)
