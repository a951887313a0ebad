-- How the server ends a TLS connection (issue 9): a graceful close sends
-- TLS close_notify before the FIN, so a peer sees a clean end and not a
-- truncation (OpenSSL's "unexpected eof", Python's SSLEOFError).
-- t/clients/tls_close.py is the peer.
local H = require "helper"
local http2 = require "http2"

local PKI = os.tmpname() .. ".pki"

local function peer(port, mode)
  local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/tls_close.py " .. port .. " " .. mode, 20)
  assert.equal(0, rc, err)
  return out
end

describe("TLS close_notify", function()
  setup(function()
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. PKI .. " >/dev/null"))
  end)
  teardown(function() os.execute("rm -rf " .. PKI) end)
  after_each(function() assert.is_nil(H.leaks()) end)

  local function server(opts)
    opts.key = H.readfile(PKI .. "/server-key.pem")
    opts.cert = H.readfile(PKI .. "/server.pem")
    local s = http2.createSecureServer(opts, function(req, res) res:finish("ok") end)
    return s, H.listen(s)
  end

  it("session:close() from the server: GOAWAY, then close_notify before the FIN (within 20 s)", function()
    H.run(function()
      local s, port = server({})
      s:on("session", function(session) session:close() end)
      local out = peer(port, "h2")
      s:close()
      assert.truthy(out:find("^close_notify"), out)
    end)
  end)

  it("the client's GOAWAY ends the session: close_notify before the FIN (within 20 s)", function()
    H.run(function()
      local s, port = server({})
      local out = peer(port, "h2-goaway")
      s:close()
      assert.truthy(out:find("^close_notify"), out)
    end)
  end)

  it("HTTP/1.1 over TLS with Connection: close: the response, then close_notify before the FIN (within 20 s)", function()
    H.run(function()
      local s, port = server({ allowHTTP1 = true })
      local out = peer(port, "h1")
      s:close()
      assert.truthy(out:find("^close_notify"), out)
      assert.is_true(tonumber(out:match("bytes=(%d+)")) > 0, out)
    end)
  end)
end)
