-- Node's test/parallel/http2/compat-*.js about requests, expectations and
-- the socket proxy, ported: a server on createServer/'request' and our own
-- client (http2.connect) in the same loop. Handler checks are collected
-- and asserted by the test.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local failure
-- guard(fn): fn, with its first failed check kept for the test to raise
local function guard(fn)
  return function(...)
    local ok, e = xpcall(fn, debug.traceback, ...)
    if not ok and failure == nil then failure = e end
  end
end

local function serve(onRequest)
  local server = http2.createServer(onRequest and guard(onRequest))
  local port = H.listen(server)
  return server, port, http2.connect("http://127.0.0.1:" .. port)
end

local code_of = H.code_of

describe("Node compat-* (requests)", function()
  before_each(function() failure = nil end)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("compat-aborted.js: 'aborted' on req once the client goes, with aborted and complete set", function()
    H.run(function()
      local seen = {}
      local _, _, client = serve(function(req, res)
        seen.before = { req.aborted, req.complete }
        req:on("aborted", function() seen.after = { req.aborted, req.complete } end)
        res:write("hello")
      end)
      local r = client:request({ [":path"] = "/" })
      r:on("data", function() client:destroy() end)
      assert.is_true(H.wait_until(function() return seen.after end, 3000))
      assert.is_nil(failure)
      assert.same({ false, false }, seen.before)
      assert.same({ true, true }, seen.after)
    end)
  end)

  it("compat-errors.js: a stream error reaches the stream only; req gets 'aborted', res nothing", function()
    H.run(function()
      local ev = {}
      local kaboom = { code = "KABOOM", message = "kaboom" }
      local _, _, client = serve(function(req, res)
        res.stream:on("error", function(e) ev[#ev + 1] = "stream error " .. tostring(e.code) end)
        req:on("error", function() ev[#ev + 1] = "req error" end)
        res:on("error", function() ev[#ev + 1] = "res error" end)
        req:on("aborted", function() ev[#ev + 1] = "req aborted" end)
        res:on("aborted", function() ev[#ev + 1] = "res aborted" end)
        res:write("hello")
        res.stream:destroy(kaboom)
      end)
      local r = client:request({ [":path"] = "/" })
      r:on("error", function() end)
      r:on("data", function() client:destroy() end)
      r:wait("close", 3000)
      H.wait_until(function() return #ev >= 2 end, 1000)
      h2lua.sleep(20)
      assert.is_nil(failure)
      table.sort(ev)
      assert.same({ "req aborted", "stream error KABOOM" }, ev)
    end)
  end)

  it("compat-client-upload-reject.js: a 400 answered before the upload is read reaches the uploading client", function()
    H.run(function()
      local _, _, client = serve(function(_, res)
        h2lua.setImmediate(function() res:writeHead(400) res:finish() end)
      end)
      local r = client:request({ [":method"] = "POST", [":path"] = "/" })
      local big = H.bytes(1000000, 3)
      local status
      r:on("response", function(h) status = h[":status"] end)
      r:on("error", function() end)
      h2lua.spawn(function()
        for i = 1, #big, 16384 do
          if r.destroyed or r.writableEnded then break end
          if not r:write(big:sub(i, i + 16383)) then r:wait("drain", 2000) end
        end
        if not r.destroyed and not r.writableEnded then r:finish() end
      end)
      r:resume()
      local ended = false
      r:on("end", function() ended = true end)
      assert.is_true(H.wait_until(function() return ended end, 5000))
      assert.equal(400, status)
      client:close()
    end)
  end)

  it("compat-expect-continue-check.js: 'checkContinue' answers 100; writeContinue is false once too late", function()
    H.run(function()
      local server = http2.createServer()
      local results = {}
      server:on("request", guard(function() results.request = true end))
      server:on("checkContinue", guard(function(_, res)
        results[1] = res:writeContinue()
        res:writeHead(200, {})
        res:finish("other stuff!\n")
        results[2] = res:writeContinue()
        res:on("finish", function()
          h2lua.setImmediate(function() results[3] = res:writeContinue() end)
        end)
      end))
      local port = H.listen(server)
      local client = http2.connect("http://127.0.0.1:" .. port)
      local r = client:request({ [":method"] = "POST", [":path"] = "/", expect = "100-continue" })
      local order = {}
      r:on("continue", function() order[#order + 1] = "continue" end)
      r:on("response", function(h) order[#order + 1] = h[":status"] r:finish() end)
      local body = r:readAll()
      assert.is_true(H.wait_until(function() return results[3] ~= nil end, 2000))
      assert.is_nil(failure)
      assert.same({ "continue", 200 }, order)
      assert.equal("other stuff!\n", body)
      assert.same({ true, false, false }, results)
      assert.is_nil(results.request)
      client:close()
    end)
  end)

  it("compat-expect-continue.js: 'request' alone gets an automatic 100 Continue, for a POST and a GET", function()
    H.run(function()
      local sent = false
      local _, _, client = serve(function(req, res)
        res:finish(req.method == "POST" and "other stuff!\n" or nil)
        sent = true
      end)
      local r = client:request({ [":method"] = "POST", [":path"] = "/", expect = "100-continue" }, { endStream = false })
      local order = {}
      r:on("continue", function() order[#order + 1] = "continue" end)
      r:on("response", function(h)
        order[#order + 1] = { h[":status"], sent }
        r:finish()
      end)
      assert.equal("other stuff!\n", r:readAll())
      assert.same({ "continue", { 200, true } }, order)
      local g = client:request({ [":path"] = "/", expect = "100-continue" })
      local cont, resp = false, false
      g:on("continue", function() cont = true end)
      g:on("response", function() resp = true end)
      assert.equal("", g:readAll())
      assert.is_true(cont and resp)
      assert.is_nil(failure)
      client:close()
    end)
  end)

  it("compat-expect-handling.js: 'checkExpectation' takes other expectations, twice over", function()
    H.run(function()
      local server = http2.createServer(guard(function() error("'request' must not run") end))
      local seen = {}
      server:on("checkExpectation", guard(function(req, res)
        seen[#seen + 1] = req.headers.expect
        res.statusCode = 417
        res:finish()
      end))
      local port = H.listen(server)
      for _ = 1, 2 do
        local client = http2.connect("http://127.0.0.1:" .. port)
        local r = client:request({ [":path"] = "/", [":method"] = "GET", [":scheme"] = "http",
          [":authority"] = "localhost:" .. port, expect = "meoww" })
        assert.equal(417, r:wait("response", 3000)[":status"])
        r:readAll()
        client:close()
      end
      assert.is_nil(failure)
      assert.same({ "meoww", "meoww" }, seen)
    end)
  end)

  it("compat-method-connect.js: a 'connect' listener answers CONNECT, twice over", function()
    H.run(function()
      local server = http2.createServer(guard(function() error("'request' must not run") end))
      local seen = 0
      server:on("connect", guard(function(req, res)
        assert.equal("CONNECT", req.headers[":method"])
        seen = seen + 1
        res.statusCode = 405
        res:finish()
      end))
      local port = H.listen(server)
      for _ = 1, 2 do
        local client = http2.connect("http://127.0.0.1:" .. port)
        local r = client:request({ [":method"] = "CONNECT", [":authority"] = "localhost:" .. port })
        assert.equal(405, r:wait("response", 3000)[":status"])
        r:finish()
        r:readAll()
        client:close()
      end
      assert.is_nil(failure)
      assert.equal(2, seen)
    end)
  end)

  it("compat-serverrequest-end.js: a GET without body ends; finish() returns res; the socket is not readable at 'finish'", function()
    H.run(function()
      local seen = {}
      local _, _, client = serve(function(req, res)
        seen[1] = req.complete
        req:on("data", function() end)
        req:on("end", function()
          seen[2] = req.complete
          res:on("finish", function() seen[3] = req.socket.readable end)
          seen[4] = res:finish() == res
        end)
      end)
      local r = client:request({ [":path"] = "/" })
      r:readAll()
      assert.is_true(H.wait_until(function() return seen[3] ~= nil end, 2000))
      assert.is_nil(failure)
      assert.same({ false, true, false, true }, seen)
      client:close()
    end)
  end)

  it("compat-serverrequest-headers.js: fields from the headers, pseudo-headers first in rawHeaders, url and a validating method setter", function()
    H.run(function()
      local seen
      local port
      local _, p, client = serve(function(req, res)
        local raw = req.rawHeaders
        local pos = {}
        for i = 1, #raw, 2 do pos[raw[i]] = pos[raw[i]] or i end
        seen = {
          path = req.path, method = req.method, scheme = req.scheme, url = req.url,
          authority = req.authority, foo = req.headers["foo-bar"],
          raw_foo = raw[pos["foo-bar"] + 1], raw_path = raw[pos[":path"] + 1],
          pseudo_first = pos[":path"] < pos["foo1"] and pos[":method"] < pos["foo1"]
            and pos[":scheme"] < pos["foo1"] and pos[":authority"] < pos["foo1"]
            and pos[":path"] < pos["foo2"],
          -- (the order among ordinary fields: a Lua table sent has none)
        }
        req.url = "/one"
        seen.url2 = req.url
        req.method = "POST"
        seen.method2 = req.method
        seen.blank = code_of(function() req.method = "   " end)
        seen.bool = code_of(function() req.method = true end)
        seen.method3 = req.method
        res:finish()
      end)
      port = p
      local r = client:request({ [":path"] = "/foobar", [":method"] = "GET", [":scheme"] = "http",
        [":authority"] = "localhost:" .. port, ["foo-bar"] = "abc123", foo1 = "abc1", foo2 = "abc2" })
      r:readAll()
      assert.is_nil(failure)
      assert.same({
        method = "GET", scheme = "http", url = "/foobar", authority = "localhost:" .. port,
        foo = "abc123", raw_foo = "abc123", raw_path = "/foobar", pseudo_first = true,
        url2 = "/one", method2 = "POST", blank = "ERR_INVALID_ARG_VALUE",
        bool = "ERR_INVALID_ARG_TYPE", method3 = "POST",
      }, seen)
      client:close()
    end)
  end)

  it("compat-serverrequest-host.js: a request with host and no :authority: req.authority falls back to host", function()
    H.run(function()
      local seen
      local server = http2.createServer(guard(function(req, res)
        local names = {}
        for i = 1, #req.rawHeaders, 2 do names[req.rawHeaders[i]] = req.rawHeaders[i + 1] end
        seen = { req.authority, req.headers.host, req.headers[":authority"], names[":authority"], names.host }
        res:finish()
      end))
      local port = H.listen(server)
      local client = http2.connect("http://127.0.0.1:" .. port)
      -- as Node's client: with host given, no :authority is added
      local r = client:request({ [":path"] = "/foobar", [":method"] = "GET", [":scheme"] = "http",
        host = "localhost:" .. port })
      r:readAll()
      client:close()
      assert.is_nil(failure)
      assert.same({ "localhost:" .. port, "localhost:" .. port, nil, nil, "localhost:" .. port }, seen)
    end)
  end)

  it("compat-serverrequest-pause.js: a paused req holds its 'data' until resumed; pause/resume after the end do not fail", function()
    H.run(function()
      local seen = {}
      local _, _, client = serve(function(req, res)
        local data = ""
        req:pause()
        req:on("data", function(c) data = data .. c end)
        h2lua.setTimeout(function()
          seen.held = data
          req:resume()
        end, 100)
        req:on("end", function()
          seen.all = data
          res:finish()
        end)
        res:on("finish", function()
          h2lua.setImmediate(function()
            seen.after = code_of(function() req:pause() req:resume() end)
          end)
        end)
      end)
      local r = client:request({ [":path"] = "/foobar", [":method"] = "POST" })
      r:finish("Request Body from Client")
      r:readAll()
      assert.is_true(H.wait_until(function() return seen.after end, 2000))
      assert.is_nil(failure)
      assert.same({ held = "", all = "Request Body from Client", after = "no error" }, seen)
      client:close()
    end)
  end)

  it("compat-serverrequest-pipe.js: a large upload read through req's 'data' arrives whole, complete at the end", function()
    H.run(function()
      local seen
      local path = os.tmpname()
      local _, _, client = serve(function(req, res)
        local f = assert(io.open(path, "wb"))
        req:on("data", function(c) f:write(c) end)
        req:on("end", function()
          f:close()
          seen = { req.complete, #H.readfile(path) }
          res:finish()
        end)
      end)
      local big = H.bytes(400000, 9)
      local r = client:request({ [":method"] = "POST", [":path"] = "/" })
      for i = 1, #big, 16384 do
        if not r:write(big:sub(i, i + 16383)) then r:wait("drain", 3000) end
      end
      r:finish()
      assert.equal(200, r:wait("response", 3000)[":status"])
      r:readAll()
      os.remove(path)
      assert.is_nil(failure)
      assert.same({ true, #big }, seen)
      client:close()
    end)
  end)

  it("compat-serverrequest-settimeout.js: req:setTimeout returns req, fires 'timeout', and does nothing once done", function()
    H.run(function()
      local seen = { timeouts = 0, late = 0 }
      local _, _, client = serve(function(req, res)
        seen.ret = req:setTimeout(1, function() res:finish() end) == req
        req:on("timeout", function() seen.timeouts = seen.timeouts + 1 end)
        res:on("finish", function()
          req:setTimeout(1, function() seen.late = seen.late + 1 end)
          h2lua.setImmediate(function()
            req:setTimeout(1, function() seen.late = seen.late + 1 end)
            seen.done = true
          end)
        end)
      end)
      local r = client:request({ [":path"] = "/" })
      r:readAll()
      assert.is_true(H.wait_until(function() return seen.done end, 2000))
      h2lua.sleep(30)
      assert.is_nil(failure)
      assert.same({ ret = true, timeouts = 1, late = 0, done = true }, seen)
      client:close()
    end)
  end)

  it("compat-serverrequest-trailers.js: req.trailers joins repeated trailer fields; rawTrailers keeps each", function()
    H.run(function()
      local seen
      local _, _, client = serve(function(req, res)
        local data = ""
        req:on("data", function(c) data = data .. c end)
        req:on("end", function()
          local foo = {}
          local raw = req.rawTrailers
          for i = 1, #raw, 2 do
            if raw[i] == "x-foo" then foo[#foo + 1] = raw[i + 1] end
          end
          seen = { data, req.trailers["x-foo"], req.trailers["x-foo-test"], foo, #raw }
          res:finish()
        end)
      end)
      local r = client:request({ [":path"] = "/foobar", [":method"] = "POST" }, { waitForTrailers = true })
      r:on("wantTrailers", function()
        r:sendTrailers({ ["x-foo"] = { "xOxOxOx", "OxOxOxO", "xOxOxOx", "OxOxOxO" },
          ["x-foo-test"] = "test, test" })
      end)
      r:write("test\n")
      r:finish("test")
      r:readAll()
      assert.is_nil(failure)
      assert.same({ "test\ntest", "xOxOxOx, OxOxOxO, xOxOxOx, OxOxOxO", "test, test",
        { "xOxOxOx", "OxOxOxO", "xOxOxOx", "OxOxOxO" }, 10 }, seen)
      client:close()
    end)
  end)

  it("compat-serverrequest.js: httpVersion 2.0, req.socket is req.connection, and stays after 'finish'", function()
    H.run(function()
      local seen
      local _, _, client = serve(function(req, res)
        seen = { req.httpVersion, req.httpVersionMajor, req.httpVersionMinor,
          req.socket == req.connection, req.socket.remoteAddress }
        res:on("finish", function()
          h2lua.setImmediate(function() seen[6] = req.socket ~= nil end)
        end)
        res:finish()
      end)
      client:request({ [":path"] = "/foobar" }):readAll()
      assert.is_true(H.wait_until(function() return seen and seen[6] ~= nil end, 2000))
      assert.is_nil(failure)
      assert.same({ "2.0", 2, 0, true, "127.0.0.1", true }, seen)
      client:close()
    end)
  end)

  it("compat-short-stream-client-server.js: a short response waits, unread and not closed, for a late reader", function()
    H.run(function()
      local _, _, client = serve(function(_, res)
        res:setHeader("content-type", "text/html")
        res:write("te")
        res:finish("st")
      end)
      local r = client:request({ [":path"] = "/" })
      local h = r:wait("response", 3000)
      local closed_early = false
      r:on("close", function() closed_early = true end)
      h2lua.sleep(100)
      local was_closed = closed_early
      assert.equal(200, h[":status"])
      assert.equal("text/html", h["content-type"])
      assert.equal("test", r:readAll())
      assert.is_false(was_closed)
      assert.is_true(H.wait_until(function() return closed_early end, 1000))
      client:close()
    end)
  end)

  it("compat-socket-destroy-delayed.js: req.socket:destroy() after the response ends that stream, not the connection", function()
    H.run(function()
      local _, _, client = serve(function(req, res)
        res:finish("hello")
        h2lua.setImmediate(function() req.socket:destroy() end)
      end)
      local r = client:request({ [":path"] = "/", [":method"] = "get" })
      assert.equal("hello", r:readAll())
      h2lua.sleep(20)
      -- the session still serves
      local r2 = client:request({ [":path"] = "/again" })
      assert.equal("hello", r2:readAll())
      assert.is_false(client.destroyed)
      assert.is_nil(failure)
      client:close()
    end)
  end)

  it("compat-socket.js: req.socket is the documented proxy over the stream, the session and the socket", function()
    H.run(function()
      local seen = {}
      local _, _, client = serve(function(req, res)
        local sock = req.socket
        seen.same = sock == res.socket
        seen.readable, seen.writable, seen.destroyed = sock.readable, sock.writable, sock.destroyed
        req:resume()
        local session = req.stream.session
        local real = session.setTimeout
        local timeouts = {}
        rawset(session, "setTimeout", function(s, ms, ...) timeouts[#timeouts + 1] = ms return real(s, ms, ...) end)
        sock:setTimeout(987)
        sock:setTimeout(0)
        rawset(session, "setTimeout", nil)
        seen.timeouts = timeouts
        seen.refused = { code_of(function() sock:read() end), code_of(function() sock:write("x") end),
          code_of(function() sock:pause() end), code_of(function() sock:resume() end) }
        seen.address = sock:address().address
        seen.port = sock.remotePort
        seen.family = sock.remoteFamily
        req:on("end", function()
          seen.readable_at_end = req.socket.readable
          res.socket:destroy()
        end)
        res:on("finish", function()
          seen.fin = { req.socket ~= nil, res.socket, req.socket.destroyed, req.socket.readable }
          h2lua.setImmediate(function() seen.writable_after = req.socket.writable end)
        end)
        local events = {}
        seen.events = events
        sock:on("close", function() events[#events + 1] = "on close" end)
        sock:once("close", function() events[#events + 1] = "once close" end)
        sock:on("testEvent", function() events[#events + 1] = "testEvent" end)
        sock:emit("testEvent")
      end)
      local r = client:request({ [":path"] = "/" })
      r:on("error", function() end)
      r:resume()
      r:wait("close", 3000)
      assert.is_true(H.wait_until(function() return seen.writable_after ~= nil and #seen.events >= 3 end, 2000))
      assert.is_nil(failure)
      local ev = seen.events
      table.sort(ev)
      assert.same({
        same = true, readable = true, writable = true, destroyed = false,
        timeouts = { 987, 0 },
        refused = { "ERR_HTTP2_NO_SOCKET_MANIPULATION", "ERR_HTTP2_NO_SOCKET_MANIPULATION",
          "ERR_HTTP2_NO_SOCKET_MANIPULATION", "ERR_HTTP2_NO_SOCKET_MANIPULATION" },
        address = "127.0.0.1", port = seen.port, family = "IPv4",
        readable_at_end = false, fin = { true, nil, true, false }, writable_after = false,
        events = { "on close", "once close", "testEvent" },
      }, seen)
      assert.is_number(seen.port)
      client:close()
    end)
  end)

  it("compat-socket-set.js: assignments through the socket proxy reach the session and socket; raw I/O is refused", function()
    H.run(function()
      local seen = {}
      local _, _, client = serve(function(req, res)
        local noop = function() end
        local session = req.stream.session
        local ended = 0
        req.socket.on = noop
        req.socket["end"] = function() ended = ended + 1 end
        req.socket["end"]()
        seen.replaced = { req.socket.on == noop, ended }
        req.socket.on, req.socket["end"] = nil, nil
        seen.restored = req.socket.on ~= noop
        req.socket.setTimeout = noop
        seen.timeout = rawget(session, "setTimeout") == noop
        rawset(session, "setTimeout", nil)
        seen.before = session.socket._isProcessing
        req.socket._isProcessing = true
        seen.after = session.socket._isProcessing
        session.socket._isProcessing = nil
        seen.refused = {}
        for _, k in ipairs({ "read", "write", "pause", "resume" }) do
          seen.refused[#seen.refused + 1] = code_of(function() req.socket[k] = noop end)
        end
        res.stream:destroy()
      end)
      local r = client:request({ [":path"] = "/" })
      r:on("error", function() end)
      r:resume()
      r:wait("close", 3000)
      assert.is_nil(failure)
      assert.same({ replaced = { true, 1 }, restored = true, timeout = true, after = true, refused = { "ERR_HTTP2_NO_SOCKET_MANIPULATION",
        "ERR_HTTP2_NO_SOCKET_MANIPULATION", "ERR_HTTP2_NO_SOCKET_MANIPULATION",
        "ERR_HTTP2_NO_SOCKET_MANIPULATION" } }, seen)
      client:close()
    end)
  end)
end)
