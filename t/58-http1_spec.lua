-- HTTP/1.1 on the same port (allowHTTP1), over TLS (ALPN http/1.1) and
-- plaintext, through the Compatibility API; and "Upgrade: h2c".
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local function compat_server(opts)
  opts = opts or {}
  if opts.allowHTTP1 == nil then opts.allowHTTP1 = true end
  local seen = {}
  local server = http2.createServer(opts, function(req, res)
    seen[#seen + 1] = req
    local body = req:readAll() or "" -- nil when the request was aborted
    if req.url == "/trailers" then res:addTrailers({ ["x-sum"] = tostring(#body) }) end
    if req.url == "/nobody" then res:writeHead(204) res:finish() return end
    res:setHeader("x-version", req.httpVersion)
    res:setHeader("x-method", req.method)
    res:writeHead(200, { ["content-type"] = "text/plain" })
    res:write(req.method .. " " .. req.url .. " ")
    res:finish(tostring(#body))
  end)
  return server, H.listen(server), seen
end

-- Sends raw bytes, reads until the server closes (bounded).
local function raw_http(port, data)
  return H.sh(H.PY .. " -c " .. H.shq(([[
import socket, sys
s = socket.create_connection(('127.0.0.1', %d))
s.sendall(bytes.fromhex('%s'))
s.settimeout(5)
d = b''
try:
    while True:
        c = s.recv(65536)
        if not c:
            break
        d += c
except socket.timeout:
    d += b'<timeout>'
sys.stdout.write(d.decode('latin-1'))
]]):format(port, (data:gsub(".", function(c) return ("%02x"):format(c:byte()) end)))))
end

describe("HTTP/1.1", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("serves curl --http1.1 through the Compatibility API, keep-alive, chunked both ways", function()
    H.run(function()
      local server, port, seen = compat_server()
      local path = os.tmpname()
      H.writefile(path, H.bytes(100000, 3))
      local rc, out, err = H.sh("curl -sS -v --http1.1 http://127.0.0.1:" .. port .. "/a --data-binary @" .. path ..
        " -H 'Transfer-Encoding: chunked' http://127.0.0.1:" .. port .. "/b")
      os.remove(path)
      assert.equal(0, rc, err)
      assert.equal("POST /a 100000POST /b 100000", out)
      assert.truthy(err:find("< HTTP/1.1 200 OK", 1, true))
      assert.truthy(err:find("< x-version: 1.1", 1, true))
      assert.truthy(err:find("< transfer-encoding: chunked", 1, true))
      assert.truthy(err:find("Re-using existing connection", 1, true), err)
      assert.equal("1.1", seen[1].httpVersion)
      assert.equal(1, seen[1].httpVersionMajor)
      assert.equal("127.0.0.1:" .. port, seen[1].authority)
      assert.equal("http", seen[1].scheme)
    end)
  end)

  it("answers pipelined requests in order; HTTP/1.0 closes", function()
    H.run(function()
      local _, port = compat_server()
      local rc, out = raw_http(port, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n" ..
        "HEAD /3 HTTP/1.1\r\nHost: x\r\n\r\nGET /4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
      assert.equal(0, rc)
      local order = {}
      -- chunked bodies: "GET /n " and "0" come as two chunks
      for path in out:gmatch("GET (/%d) \r\n1\r\n0\r\n") do order[#order + 1] = path end
      assert.same({ "/1", "/2", "/4" }, order)
      local _, n = out:gsub("HTTP/1.1 200 OK", "")
      assert.equal(4, n)
      assert.falsy(out:find("<timeout>", 1, true))
      local _, out10 = raw_http(port, "GET /old HTTP/1.0\r\n\r\n")
      assert.truthy(out10:find("^HTTP/1.1 200 OK"))
      assert.truthy(out10:find("GET /old 0$"))
      assert.truthy(out10:find("connection: close", 1, true))
    end)
  end)

  it("res.statusMessage is the reason phrase over HTTP/1.1 (and ignored over HTTP/2)", function()
    H.run(function()
      local seen
      local server = http2.createServer({ allowHTTP1 = true }, function(req, res)
        if req.url == "/wh" then
          res:writeHead(299, "Fine Indeed")
        else
          res.statusCode = 202
          res.statusMessage = "Taken In"
        end
        seen = res.statusMessage
        res:finish("x")
      end)
      local port = H.listen(server)
      local _, out = raw_http(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
      assert.truthy(out:find("^HTTP/1.1 202 Taken In\r\n"), out)
      assert.equal("Taken In", seen)
      _, out = raw_http(port, "GET /wh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
      assert.truthy(out:find("^HTTP/1.1 299 Fine Indeed\r\n"), out)
      local rc, body = H.sh("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
      assert.equal("x", body)
      assert.equal("", seen)
    end)
  end)

  it("Expect: 100-continue, 204, chunked trailers", function()
    H.run(function()
      local _, port = compat_server()
      local rc, out = raw_http(port, "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc" ..
        "GET /nobody HTTP/1.1\r\nHost: x\r\n\r\nPOST /trailers HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nwxyz")
      assert.equal(0, rc)
      assert.truthy(out:find("^HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"), out)
      assert.truthy(out:find("POST /e \r\n1\r\n3\r\n", 1, true))
      assert.truthy(out:find("HTTP/1.1 204 No Content\r\n", 1, true))
      assert.truthy(out:find("0\r\nx%-sum: 4\r\n\r\n$"), out)
    end)
  end)

  it("limits: 414, 431, 400 with allowHTTP1; GOAWAY(PROTOCOL_ERROR) and the close when only h2c is spoken", function()
    H.run(function()
      local _, port = compat_server()
      local _, o1 = raw_http(port, "GET /" .. string.rep("a", 9000) .. " HTTP/1.1\r\nHost: x\r\n\r\n")
      assert.truthy(o1:find("^HTTP/1.1 414 URI Too Long"), o1:sub(1, 80))
      local _, o2 = raw_http(port, "GET / HTTP/1.1\r\nHost: x\r\nx-big: " .. string.rep("b", 20000) .. "\r\n\r\n")
      assert.truthy(o2:find("^HTTP/1.1 431 Request Header Fields Too Large"), o2:sub(1, 80))
      local hdrs = {}
      for i = 1, 150 do hdrs[i] = "x-h" .. i .. ": v\r\n" end
      local _, o3 = raw_http(port, "GET / HTTP/1.1\r\nHost: x\r\n" .. table.concat(hdrs) .. "\r\n")
      assert.truthy(o3:find("^HTTP/1.1 431"), o3:sub(1, 80))
      local _, o4 = raw_http(port, "GARBAGE\r\n\r\n")
      assert.truthy(o4:find("^HTTP/1.1 400 Bad Request"), o4:sub(1, 80))
      -- the server still serves
      local rc, out = H.sh("curl -s --http1.1 http://127.0.0.1:" .. port .. "/ok")
      assert.equal("GET /ok 0", out)
    end)
    -- Without allowHTTP1, HTTP/1.1 goes only as far as an Upgrade: h2c;
    -- anything else is a bad connection preface (RFC 9113 3.4), a
    -- connection error: our SETTINGS, GOAWAY(PROTOCOL_ERROR), the close.
    -- (Node.js: a session error, the socket destroyed; never a 505.)
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(s) s:respond() s:finish("h2") end)
      local port = H.listen(server)
      local goaway = "\0\0\8\7\0\0\0\0\0" .. "\0\0\0\0" .. "\0\0\0\1" -- last 0, PROTOCOL_ERROR
      for _, req in ipairs({ "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GARBAGE\r\n\r\n",
                             "PRI * HTTP/2.0\r\n\r\nSM\r\n\rQ" }) do
        local _, out = raw_http(port, req)
        local hex = out:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
        assert.falsy(out:find("HTTP/1.1", 1, true), out)
        assert.truthy(out:find("^\0\0[\0\6\12\18]\4\0\0\0\0\0"), "wanted SETTINGS first: " .. hex)
        assert.truthy(out:find(goaway, 1, true), "wanted GOAWAY(PROTOCOL_ERROR): " .. hex)
        assert.falsy(out:find("<timeout>", 1, true), "the connection was left open: " .. hex)
      end
      local rc, body = H.sh("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
      assert.equal("h2", body)
    end)
  end)

  -- Debian's http_parser is lenient; these reach the handler unless h1.c
  -- checks them (a NUL once split our name/value list: an empty name,
  -- found by fuzzing). Node's llhttp answers 400 to each.
  it("400 to a field RFC 9112 forbids: a space in a name, a NUL or control in a value, in headers or trailers; nothing reaches the handler", function()
    H.run(function()
      local _, port, seen = compat_server()
      local bad = {
        "POST /a HTTP/1.1\r\nHost: x\r\nBad name: v\r\nContent-Length: 0\r\n\r\n",
        "GET /b HTTP/1.1\r\nHost: x\r\nx-v: a\0b\r\n\r\n",
        "GET /c HTTP/1.1\r\nHost: x\r\nx-v: a\1b\r\n\r\n",
        "GET /d HTTP/1.1\r\nHost: x\r\nx-v: a\127b\r\n\r\n",
        "POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\nx t: 1\r\n\r\n",
        "POST /f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\nx-t: 1\0\r\n\r\n",
        -- the fuzzer's input: a NUL after a name, then what looks like a request line
        "POST /cho HTTP/1.1\r\nHot ufszz:\r\nContent-L%ngth:\0POST /con,inue .\r\ng: chunked\r\n\r\n",
      }
      for i, req in ipairs(bad) do
        local rc, out = raw_http(port, req)
        assert.equal(0, rc)
        assert.truthy(out:find("^HTTP/1.1 400 Bad Request\r\n"), i .. ": " .. out:sub(1, 80))
        assert.falsy(out:find("<timeout>", 1, true), i .. ": the connection was left open")
      end
      -- /e and /f were read up to their trailers: their handlers may have
      -- started, but none of the bad fields was delivered
      for _, req in ipairs(seen) do
        assert.truthy(req.url == "/e" or req.url == "/f", req.url)
        for k in pairs(req.trailers or {}) do assert.falsy(k:find("[ %z]"), k) end
      end
      -- a tab inside a value and obs-text (bytes >= 0x80) are allowed
      local rc, out = raw_http(port, "GET /ok HTTP/1.1\r\nHost: x\r\nx-v: a\tb\200\r\nConnection: close\r\n\r\n")
      assert.truthy(out:find("^HTTP/1.1 200 OK"), out:sub(1, 80))
      assert.equal("a\tb\200", seen[#seen].headers["x-v"])
    end)
  end)

  it("curl --http2 (Upgrade: h2c) switches a plaintext connection to HTTP/2", function()
    H.run(function()
      local server = http2.createServer()
      local sess, streams = nil, 0
      server:on("session", function(s) sess = s end)
      server:on("stream", function(st, h)
        streams = streams + 1
        st:respond({ ["x-stream"] = st.id })
        st:finish("upgraded " .. h[":method"] .. " " .. h[":path"] .. " " .. tostring(h[":authority"]))
      end)
      local port = H.listen(server)
      local rc, out, err = H.sh("curl -sS -v --http2 http://127.0.0.1:" .. port .. "/u http://127.0.0.1:" .. port .. "/v")
      assert.equal(0, rc, err)
      assert.truthy(err:find("< HTTP/1.1 101 Switching Protocols", 1, true), err)
      assert.truthy(err:find("< HTTP/2 200", 1, true))
      assert.equal("upgraded GET /u 127.0.0.1:" .. port .. "upgraded GET /v 127.0.0.1:" .. port, out)
      assert.equal(2, streams)
      assert.equal("h2c", sess.alpnProtocol)
    end)
  end)

  it("HTTP/1.1 over TLS with allowHTTP1 (ALPN http/1.1); h2 still preferred", function()
    local pki = os.tmpname() .. ".pki"
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. pki .. " >/dev/null"))
    H.run(function()
      local got
      local server = http2.createSecureServer({ allowHTTP1 = true,
        key = H.readfile(pki .. "/server-key.pem"), cert = H.readfile(pki .. "/server.pem") },
        function(req, res)
          got = { req.httpVersion, req.socket.alpnProtocol, req.scheme }
          res:finish("hello " .. req.httpVersion)
        end)
      local port = H.listen(server)
      local rc, out, err = H.sh("curl -sS --http1.1 --cacert " .. pki .. "/ca.pem https://localhost:" .. port .. "/")
      assert.equal(0, rc, err)
      assert.equal("hello 1.1", out)
      assert.same({ "1.1", "http/1.1", "https" }, got)
      local rc2, out2 = H.sh("curl -sS --http2 --cacert " .. pki .. "/ca.pem https://localhost:" .. port .. "/")
      assert.equal(0, rc2)
      assert.equal("hello 2.0", out2)
    end)
    os.execute("rm -rf " .. pki)
  end)

  it("a handler that does not read stops the upload; reading resumes it", function()
    H.run(function()
      local server = http2.createServer({ allowHTTP1 = true }, function(req, res)
        h2lua.sleep(100)
        local n = #req:readAll()
        res:finish(tostring(n))
      end)
      local port = H.listen(server)
      local path = os.tmpname()
      H.writefile(path, H.bytes(4 * 1024 * 1024, 1))
      local rc, out = H.sh("curl -sS --http1.1 --data-binary @" .. path .. " http://127.0.0.1:" .. port .. "/")
      os.remove(path)
      assert.equal(0, rc)
      assert.equal(tostring(4 * 1024 * 1024), out)
    end)
  end)
end)
