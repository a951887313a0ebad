-- Node.js's test/parallel/http2 files from n to z that need TLS (ORIGIN
-- frames, unknown protocols) or long-lived sessions (timeouts, garbage
-- collection, a stream destroyed while writing); checked the way h2lua
-- spells them.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local pki = H.pki()
local PKI = pki.dir
local pem, key = pki.pem, pki.key

local function secure(options, fn)
  options = options or {}
  options.key, options.cert = key("server"), pem("server")
  local server = http2.createSecureServer(options)
  server:on("stream", fn or function(st) st:respond() st:finish("ok") end)
  return server, H.listen(server)
end

describe("Node test/parallel/http2 (n-z): TLS and long-lived sessions", function()
  setup(function()
    pki.make()
  end)
  teardown(pki.remove)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("origin.js: session:origin() sends ORIGIN frames the client adds to originSet; bad origins raise; h2c clients ignore them", function()
    H.run(function()
      local errs = {}
      local server, port = secure(nil, function(st)
        st.session:origin("https://example.org/a/b/c", { origin = "https://example.com" })
        st:respond()
        st:finish("ok")
      end)
      server:on("session", function(s)
        s:origin("https://foo.org/a/b/c", "https://bar.org")
        s:origin() -- nothing to send
        for _, bad in ipairs({ 0, true }) do
          local ok, e = pcall(s.origin, s, bad)
          errs[#errs + 1] = not ok and e.code
        end
        local ok, e = pcall(s.origin, s, "foo://bar")
        errs[#errs + 1] = not ok and e.code
        ok, e = pcall(s.origin, s, "http://foo.bar" .. string.rep("a", 16383))
        errs[#errs + 1] = not ok and e.code
      end)
      local origin = "https://localhost:" .. port
      local client = http2.connect(origin, { ca = pem("ca") })
      local got = {}
      client:on("origin", function(list) got[#got + 1] = table.concat(list, " ") end)
      local req = client:request({})
      assert.equal("ok", req:readAll())
      assert.is_true(H.wait_until(function() return #got == 2 end, 3000), table.concat(got, " | "))
      assert.same({ "https://foo.org https://bar.org", "https://example.org https://example.com" }, got)
      assert.same({ origin, "https://foo.org", "https://bar.org", "https://example.org", "https://example.com" },
        client.originSet)
      assert.equal("ERR_INVALID_ARG_TYPE", errs[1])
      assert.equal("ERR_INVALID_ARG_TYPE", errs[2])
      assert.equal("ERR_HTTP2_INVALID_ORIGIN", errs[3])
      assert.equal("ERR_HTTP2_ORIGIN_LENGTH", errs[4])
      client:close()
      server:close()
      -- h2c: sent, ignored
      local plain = http2.createServer()
      plain:on("stream", function(st)
        st.session:origin("https://example.org")
        st:respond()
        st:finish("ok")
      end)
      local pport = H.listen(plain)
      local c2 = http2.connect("http://127.0.0.1:" .. pport)
      local seen
      c2:on("origin", function() seen = true end)
      assert.is_nil(c2.originSet)
      assert.equal("ok", c2:request({}):readAll())
      h2lua.sleep(50)
      assert.is_nil(seen)
      c2:close()
      plain:close()
    end)
  end)

  it("origin.js: the origins option sends them when the session starts", function()
    H.run(function()
      local server, port = secure({ origins = { "https://foo.org/a/b/c", "https://bar.org" } })
      local client = http2.connect("https://localhost:" .. port, { ca = pem("ca") })
      local got
      client:on("origin", function(list) got = list end)
      assert.equal("ok", client:request({}):readAll())
      assert.is_true(H.wait_until(function() return got end, 3000))
      assert.same({ "https://foo.org", "https://bar.org" }, got)
      client:close()
      server:close()
    end)
  end)

  it("origin.js: a 421 response takes the request's origin out of the client's originSet", function()
    H.run(function()
      local server, port = secure(nil, function(st)
        st:respond({ [":status"] = 421 })
        st:finish()
      end)
      server:on("session", function(s) s:origin("https://foo.org") end)
      local origin = "https://localhost:" .. port
      local client = http2.connect(origin, { ca = pem("ca") })
      assert(client:wait("origin", 5000))
      assert.same({ origin, "https://foo.org" }, client.originSet)
      local req = client:request({ [":authority"] = "foo.org" })
      local h = req:wait("response", 5000)
      assert.equal(421, h[":status"])
      assert.same({ origin }, client.originSet)
      req:readAll()
      client:close()
      server:close()
    end)
  end)

  it("server-unknown-protocol.js: a TLS client offering no ALPN is closed (nobody listens for 'unknownProtocol'); one offering only 'bogus' gets no HTTP/2", function()
    H.run(function()
      local server = secure({ unknownProtocolTimeout = 300 })
      local port = server:address().port
      local rc, out = H.sh(H.PY .. " -c " .. H.shq(([[
import socket, ssl, time
for alpn in (None, ['bogus']):
    ctx = ssl.create_default_context(cafile='%s/ca.pem')
    if alpn: ctx.set_alpn_protocols(alpn)
    t0 = time.time()
    try:
        t = ctx.wrap_socket(socket.create_connection(('127.0.0.1', %d)), server_hostname='localhost')
        t.settimeout(3)
        data = t.recv(100)
        print('alpn=%%s closed=%%s after %%.2f' %% (t.selected_alpn_protocol(), data == b'', time.time() - t0))
    except Exception as e:
        print('refused %%s' %% type(e).__name__)
]]):format(PKI, port)), 15)
      assert.equal(0, rc)
      -- (nobody listens for 'unknownProtocol': closed at once; Node ends
      -- it at once too, with an HTTP/1.0 403, and keeps the timeout as a
      -- bound)
      local first = out:match("[^\n]+")
      local secs = tonumber(first:match("after ([%d.]+)"))
      -- closed at once, or after the HTTP/1.0 403 Node writes too
      assert.truthy(first:find("alpn=None", 1, true), out)
      assert.is_true(secs < 2.5, out)
      local second = select(2, out:match("([^\n]+)\n([^\n]+)"))
      assert.truthy(second:find("^refused") or second:find("alpn=None", 1, true), out)
      server:close()
    end)
  end)

  it("session-timeout.js: a server timeout never fires while requests keep coming", function()
    H.run(function()
      local server = http2.createServer(function(_, res) res:finish() end)
      server.timeout = 300
      local timed = false
      server:on("timeout", function() timed = true end)
      local port = H.listen(server)
      local client = http2.connect("http://127.0.0.1:" .. port)
      local t0 = h2lua.now()
      local n = 0
      while h2lua.now() - t0 < 1200 do
        local req = client:request({ [":path"] = "/foobar" })
        req:readAll()
        n = n + 1
        h2lua.sleep(50)
      end
      assert.is_true(n > 5)
      assert.is_false(timed)
      client:close()
      server:close()
    end)
  end)

  it("session-gc-while-write-scheduled.js: a session dropped by Lua right after settings() survives a full collection", function()
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(st) st:respond() st:finish("ok") end)
      local port = H.listen(server)
      local client = http2.connect("http://127.0.0.1:" .. port)
      client:settings(http2.getDefaultSettings(), function() end)
      local weak = setmetatable({ client }, { __mode = "v" })
      client = nil
      collectgarbage()
      collectgarbage()
      assert.truthy(weak[1]) -- kept by the engine while it is open
      assert.equal("ok", weak[1]:request({}):readAll())
      weak[1]:close()
      server:close()
    end)
  end)

  it("write-finishes-after-stream-destroy.js: a stream destroyed with writes still queued ends cleanly", function()
    H.run(function()
      local destroyed
      local stream
      local server = http2.createServer()
      server:on("stream", function(st)
        stream = st
        st:respond({ ["content-type"] = "text/html", [":status"] = 200 })
        st:write(string.rep("\0", 40000))
        st:write(string.rep("\0", 200000))
      end)
      local port = H.listen(server)
      local client = http2.connect("http://127.0.0.1:" .. port)
      local req = client:request({ [":path"] = "/" })
      req:on("error", function() end)
      assert.equal(200, req:wait("response", 5000)[":status"])
      assert(req:read())
      stream:destroy()
      destroyed = true
      req:readAll() -- what arrived before the reset stays readable; then 'close'
      assert(req:wait("close", 5000))
      assert.is_true(destroyed)
      assert.equal(0, req.rstCode) -- NO_ERROR: Node's destroy() without an error
      client:close()
      server:close()
    end)
  end)
end)
