-- Every example of Node.js's http2 document, as ported to examples/node/:
-- servers started and hit with curl or nghttp (or the client examples),
-- self-contained scripts run and their output checked.
local H = require "helper"

local DIR = "examples/node/"
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp)
local CERT, KEY = tmp .. "/cert.pem", tmp .. "/key.pem"

local function run(cmd)
  local body, rc = H.exec(cmd)
  return body, tonumber(rc)
end

-- h2lua FILE ARGS with a time bound: output and status
local function script(name, args)
  return run(("timeout 20 %s %s%s %s"):format(H.BIN, DIR, name, args or ""))
end

-- Starts a server example; returns its URL and the process.
local function server(name, args, prefix)
  local proc = H.start(DIR .. name, args or "0", prefix)
  local url = H.wait_output(proc, "listening on (%S+)")
  if not url then
    local out, err = H.stop(proc)
    error(name .. " did not start: " .. out .. err)
  end
  return url:gsub("/$", ""), proc
end

local CURL = "curl -s --max-time 10 --http2-prior-knowledge "

local function has(text, ...)
  for _, s in ipairs({ ... }) do
    assert(text:find(s, 1, true), ("expected %q in:\n%s"):format(s, text))
  end
end

describe("examples/node", function()
  setup(function()
    os.execute(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes " ..
      "-keyout %s -out %s -days 1 -subj /CN=localhost " ..
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1"):format(KEY, CERT))
  end)
  teardown(function() os.execute("rm -rf " .. tmp) end)

  it("every example of the document has its file, and each file is listed in the README", function()
    local readme = H.readfile(DIR .. "README.md")
    local p = io.popen("ls " .. DIR)
    local n = 0
    for f in p:lines() do
      if f:match("%.lua$") then
        n = n + 1
        has(readme, "`" .. f .. "`")
      end
    end
    p:close()
    assert.equal(37, n)
  end)

  describe("self-contained", function()
    local cases = {
      ["determining-if-crypto-support-is-unavailable.lua"] = { "http2 loaded; createSecureServer available" },
      ["http2session-localsettings-remotesettings.lua"] = {
        "server: the client's initialWindowSize is 100000", "client: enablePush is now false" },
      ["http2session-timeout.lua"] = { "timeout: over 200 ms without a byte either way" },
      ["http2session-ping.lua"] = { "Ping acknowledged in ", "With payload 'abcdefgh'" },
      ["http2session-setlocalwindowsize.lua"] = {
        "server: effectiveLocalWindowSize 1048576", "client: remoteWindowSize 1048576" },
      ["serverhttp2session-altsvc.lua"] = { 'h2=":8000"\nhttps://example.org:80\n0\n', 'h2=":8000"\n\n1\n' },
      ["http2stream.lua"] = { "status 200", "body Hello World", "trailer xyz: abc" },
      ["http2stream-settimeout.lua"] = { "closed with rstCode 8 (NGHTTP2_CANCEL is 8)" },
      ["clienthttp2stream.lua"] = { "headers 103 link </style.css>; rel=preload", "response 200",
        "pushed: /style.css", "push status 200", "pushed data: some pushed data", "data: some data" },
      ["http2-getpackedsettings.lua"] = { "AAIAAAAA\n" },
      ["the-extended-connect-protocol.lua"] = { "client: the server allows extended CONNECT",
        "server: CONNECT :protocol foo /chat", "client: status 200", "client: tunnel for foo" },
      ["collecting-http2-performance-metrics.lua"] = { "http2\n", "Http2Session client: ",
        "Http2Session server: ", "Http2Stream 1: 12 bytes written" },
    }
    for name, expect in pairs(cases) do
      it(name, function()
        local out, rc = script(name)
        assert.equal(0, rc, out)
        has(out, table.unpack(expect))
      end)
    end
    it("serverhttp2session-origin.lua (TLS)", function()
      local out, rc = script("serverhttp2session-origin.lua", CERT .. " " .. KEY)
      assert.equal(0, rc, out)
      assert.equal("https://example.com\nhttps://example.org\nhttps://example.net\nhttps://example.info\n", out)
    end)
  end)

  describe("servers and clients", function()
    it("server-side-example.lua with client-side-example.lua and curl (TLS)", function()
      local url, proc = server("server-side-example.lua", "0 " .. CERT .. " " .. KEY)
      local out, rc = script("client-side-example.lua", url .. " " .. CERT)
      local c = run("curl -s --max-time 10 --http2 --cacert " .. CERT .. " " .. url .. "/")
      H.stop(proc)
      assert.equal(0, rc, out)
      has(out, ":status: 200", "content-type: text/html; charset=utf-8", "\n<h1>Hello World</h1>\n")
      assert.equal("<h1>Hello World</h1>", c)
    end)

    it("http2session-stream.lua with clienthttp2session-request.lua and http2-connect.lua", function()
      local url, proc = server("http2session-stream.lua")
      local out = run(CURL .. "-i " .. url .. "/a/path")
      local req = script("clienthttp2session-request.lua", url)
      local conn = script("http2-connect.lua", url)
      H.stop(proc)
      has(out, "HTTP/2 200", "x-request: GET /a/path", "hello world")
      has(req, "200\n11 bytes of body\n")
      has(conn, "connected to 127.0.0.1:", "status 200", "closed")
    end)

    it("http2stream-respond.lua: a body, and trailers after it", function()
      local url, proc = server("http2stream-respond.lua")
      local plain = run(CURL .. url .. "/")
      local tr = run("nghttp -v " .. url .. "/trailers")
      H.stop(proc)
      assert.equal("some data", plain)
      has(tr, "some data", "abc: some value to send")
    end)

    it("http2stream-respondwithfd.lua: the file, with content-length; trailers", function()
      local url, proc = server("http2stream-respondwithfd.lua")
      local out = run(CURL .. "-i " .. url .. "/")
      local tr = run("nghttp -v " .. url .. "/trailers")
      H.stop(proc)
      local src = H.readfile(DIR .. "http2stream-respondwithfd.lua")
      has(out, "content-length: " .. #src, src)
      has(tr, "abc: some value to send")
    end)

    it("http2stream-respondwithfile.lua: last-modified, 404 from onError, 304 from statCheck, trailers", function()
      local url, proc = server("http2stream-respondwithfile.lua")
      local file = run(CURL .. "-i " .. url .. "/file")
      local missing = run(CURL .. "-i " .. url .. "/missing")
      local cached = run(CURL .. "-i " .. url .. "/cached")
      local tr = run("nghttp -v " .. url .. "/trailers")
      H.stop(proc)
      has(file, "HTTP/2 200", "last-modified: ", "GMT", "respondWithFile")
      has(missing, "HTTP/2 404")
      has(cached, "HTTP/2 304")
      has(tr, "abc: some value to send")
    end)

    for _, name in ipairs({ "http2server-stream.lua", "http2-createserver.lua" }) do
      it(name, function()
        local url, proc = server(name)
        local out = run(CURL .. "-i " .. url .. "/")
        H.stop(proc)
        has(out, "HTTP/2 200")
        if name == "http2-createserver.lua" then has(out, "<h1>Hello World</h1>")
        else has(out, "content-type: text/plain; charset=utf-8", "hello world") end
      end)
    end

    for _, name in ipairs({ "http2secureserver-stream.lua", "http2-createsecureserver.lua" }) do
      it(name .. " (TLS)", function()
        local url, proc = server(name, "0 " .. CERT .. " " .. KEY)
        local out = run("curl -s -i --max-time 10 --http2 --cacert " .. CERT .. " " .. url .. "/")
        H.stop(proc)
        has(out, "HTTP/2 200", name == "http2-createsecureserver.lua" and "<h1>Hello World</h1>" or "hello world")
      end)
    end

    it("headers-object.lua: several values go as several fields; request names lower case", function()
      local url, proc = server("headers-object.lua")
      local out = run("nghttp -v -H 'ABC: one' " .. url .. "/some/path")
      local printed = H.wait_output(proc, "(/some/path\none)")
      H.stop(proc)
      has(out, "abc: has\n", "abc: more\n", "abc: than\n", "abc: one\n", "abc: value\n")
      assert.equal("/some/path\none", printed)
    end)

    it("sensitive-headers.lua: never-indexed fields, as the trace shows", function()
      local url, proc = server("sensitive-headers.lua", "0", "H2LUA_TRACE=1")
      local out = run(CURL .. "-i " .. url .. "/")
      local _, err = H.stop(proc)
      has(out, "cookie: some-cookie", "other-sensitive-header: very secret data")
      has(err, "cookie: some-cookie  ; never indexed", "other-sensitive-header: very secret data  ; never indexed")
    end)

    it("supporting-the-connect-method: the client through the proxy to the TCP target", function()
      local target, tproc = server("supporting-the-connect-method-tcp-echo.lua")
      local direct = run(H.PY .. [[ -c 'import socket,sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s.sendall(b"Jane"); s.shutdown(socket.SHUT_WR)
out = b""
while True:
    d = s.recv(4096)
    if not d: break
    out += d
sys.stdout.write(out.decode())' ]] .. target:match(":(%d+)$"))
      local proxy, pproc = server("supporting-the-connect-method-proxy.lua")
      local out = script("supporting-the-connect-method-client.lua", proxy .. " " .. target:match("//(.*)$"))
      local refused = run("nghttp -v " .. proxy .. "/")
      H.stop(pproc)
      H.stop(tproc)
      assert.equal("hello Jane", direct)
      assert.equal("200\nThe server says: hello Jane\n", out)
      has(refused, "RST_STREAM", "error_code=REFUSED_STREAM")
    end)

    it("compatibility-api.lua: writeHead's headers win over setHeader's", function()
      local url, proc = server("compatibility-api.lua")
      local out = run(CURL .. "-i " .. url .. "/")
      H.stop(proc)
      has(out, "HTTP/2 200", "content-type: text/plain; charset=utf-8", "x-foo: bar", "ok")
    end)

    it("alpn-negotiation.lua: h2 and HTTP/1.1 on one TLS port", function()
      local url, proc = server("alpn-negotiation.lua", "0 " .. CERT .. " " .. KEY)
      local h2 = run("curl -s --max-time 10 --http2 --cacert " .. CERT .. " " .. url .. "/")
      local h1 = run("curl -s --max-time 10 --http1.1 --cacert " .. CERT .. " " .. url .. "/")
      H.stop(proc)
      local json = require "h2lua.json"
      assert.same({ alpnProtocol = "h2", httpVersion = "2.0" }, json.decode(h2))
      assert.same({ alpnProtocol = "http/1.1", httpVersion = "1.1" }, json.decode(h1))
    end)

    it("request-headers.lua: headers, rawHeaders, url", function()
      local url, proc = server("request-headers.lua")
      local out = run(CURL .. "-A test-agent '" .. url .. "/status?name=ryan'")
      local printed = H.wait_output(proc, "(user%-agent: test%-agent)")
      H.stop(proc)
      local v = require("h2lua.json").decode(out)
      assert.equal("/status?name=ryan", v.url)
      assert.equal("test-agent", v.userAgent)
      local raw = table.concat(v.rawHeaders, " ")
      has(raw, ":method GET", ":path /status?name=ryan", "user-agent test-agent")
      assert.equal("user-agent: test-agent", printed)
    end)

    it("response-headers.lua: the header calls; statusCode", function()
      local url, proc = server("response-headers.lua")
      local out = run(CURL .. "-i " .. url .. "/")
      local missing = run(CURL .. "-i " .. url .. "/missing")
      H.stop(proc)
      has(out, "HTTP/2 200", "set-cookie: type=ninja", "set-cookie: language=javascript",
        "getHeader: text/html; charset=utf-8", "getHeaderNames: content-type,foo,set-cookie",
        "getHeaders set-cookie: type=ninja; language=javascript", "hasHeader: true",
        "hasHeader content-encoding: false")
      has(missing, "HTTP/2 404")
    end)

    it("response-socket.lua", function()
      local url, proc = server("response-socket.lua")
      local out = run(CURL .. url .. "/")
      H.stop(proc)
      assert.truthy(out:match("^Your IP address is 127%.0%.0%.1 and your source port is %d+%.$"), out)
    end)

    it("response-writeearlyhints.lua: two 103s, then the response", function()
      local url, proc = server("response-writeearlyhints.lua")
      local out = run("nghttp -v " .. url .. "/")
      H.stop(proc)
      local n = select(2, out:gsub(":status: 103", ""))
      assert.equal(2, n)
      has(out, "link: </styles.css>; rel=preload; as=style",
        "</scripts.js>; rel=preload; as=script", ":status: 200", "the page")
    end)

    it("response-writehead.lua", function()
      local url, proc = server("response-writehead.lua")
      local out = run(CURL .. "-i " .. url .. "/")
      H.stop(proc)
      has(out, "HTTP/2 200", "content-length: 11", "content-type: text/plain; charset=utf-8", "hello world")
    end)
  end)
end)
