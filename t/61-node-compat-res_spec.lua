-- Node's test/parallel/http2/compat-*.js about Http2ServerResponse (and
-- writeEarlyHints), ported: a server on createServer/'request' and our own
-- client (http2.connect) in the same loop. Handler checks are collected
-- and asserted by the test.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"
local C = http2.constants

local failure
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

-- get(client, headers) -> response headers, flags, body
local function get(client, headers)
  local r = client:request(headers or { [":path"] = "/" })
  r:on("error", function() end)
  local h, flags = r:wait("response", 3000)
  return h, flags, r:readAll(), r
end

describe("Node compat-* (responses)", function()
  before_each(function() failure = nil end)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("compat-serverresponse-close.js: req and res get 'close' when the client goes mid-response", function()
    H.run(function()
      local ev = {}
      local _, _, client = serve(function(req, res)
        res:writeHead(200)
        res:write("a")
        req:on("close", function() ev[#ev + 1] = "req close" end)
        res:on("close", function() ev[#ev + 1] = "res close" end)
        req:on("error", function() ev[#ev + 1] = "req error" end)
      end)
      local r = client:request({ [":path"] = "/" })
      r:on("data", function() client:destroy() end)
      assert.is_true(H.wait_until(function() return #ev >= 2 end, 3000))
      h2lua.sleep(20)
      assert.is_nil(failure)
      assert.same({ "req close", "res close" }, ev)
    end)
  end)

  it("compat-serverresponse-createpushresponse.js: a pushed response, with its headers; none once the stream is gone", function()
    H.run(function()
      local seen = {}
      local _, port, client = serve(function(_, res)
        seen.odd = res.stream.id % 2
        res:write("This is a client-initiated response")
        res.stream:on("close", function()
          res:createPushResponse({ [":path"] = "/pushed", [":method"] = "GET" }, function(err)
            seen.late = err and err.code
          end)
        end)
        res:createPushResponse({ [":path"] = "/pushed", [":method"] = "GET" }, function(err, push)
          assert.is_nil(err)
          seen.even = push.stream.id % 2
          push:finish("This is a server-initiated response")
          res:finish()
        end)
      end)
      local pushed = {}
      client:on("stream", function(ps, h)
        pushed.req = { h[":path"], h[":method"], h[":scheme"], h[":authority"] }
        ps:on("push", function(ph) pushed.status, pushed.date = ph[":status"], ph.date ~= nil end)
        h2lua.spawn(function() pushed.body = ps:readAll() end)
      end)
      local h, _, body = get(client, { [":path"] = "/", [":method"] = "GET" })
      assert.is_true(H.wait_until(function() return pushed.body and seen.late end, 3000))
      assert.is_nil(failure)
      assert.equal(200, h[":status"])
      assert.truthy(h.date)
      assert.equal("This is a client-initiated response", body)
      assert.same({ "/pushed", "GET", "http", "127.0.0.1:" .. port }, pushed.req)
      assert.same({ 200, true, "This is a server-initiated response" },
        { pushed.status, pushed.date, pushed.body })
      assert.same({ odd = 1, even = 0, late = "ERR_HTTP2_INVALID_STREAM" }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse-destroy.js: res:destroy() resets the stream (NO_ERROR without an error: the client's request ends; INTERNAL_ERROR with one); 'finish' still comes", function()
    H.run(function()
      local finishes, errs = 0, 0
      local nexterr = { "test-error", { message = "test" } }
      local _, _, client = serve(function(req, res)
        req:on("error", function() errs = errs + 1 end)
        res:on("error", function() errs = errs + 1 end)
        local e = req.url ~= "/" and table.remove(nexterr, 1) or nil
        res:on("finish", function()
          finishes = finishes + 1
          res:destroy(e)
          h2lua.setImmediate(function() res:destroy(e) end)
        end)
        res:destroy(e)
      end)
      local results = {}
      for i, path in ipairs({ "/", "/error", "/error" }) do
        local r = client:request({ [":path"] = path })
        local got = { response = false }
        results[i] = got
        r:on("response", function() got.response = true end)
        r:on("error", function(e) got.err = e.code .. " " .. e.message end)
        r:on("close", function() got.closed = true end)
        r:on("end", function() got.ended = true end)
        r:resume()
      end
      assert.is_true(H.wait_until(function()
        return results[1].closed and results[2].closed and results[3].closed and finishes == 3
      end, 3000))
      h2lua.sleep(20)
      assert.is_nil(failure)
      assert.same({ response = false, closed = true, ended = true }, results[1])
      for i = 2, 3 do
        assert.same({ response = false, closed = true,
          err = "ERR_HTTP2_STREAM_ERROR Stream closed with error code NGHTTP2_INTERNAL_ERROR" }, results[i])
      end
      assert.equal(0, errs)
      client:close()
    end)
  end)

  it("compat-serverresponse-drain.js: the stream's 'drain' reaches res", function()
    H.run(function()
      local chunk = string.rep("tests", 4000) -- above the 16 KiB high-water mark
      local seen = {}
      local _, _, client = serve(function(_, res)
        seen.first = res:write(chunk)
        res:on("drain", function() seen.drained = true res:finish(chunk) end)
      end)
      local _, _, body = get(client, { [":path"] = "/foobar", [":method"] = "POST" })
      assert.is_nil(failure)
      assert.same({ first = false, drained = true }, seen)
      assert.equal(chunk .. chunk, body)
      client:close()
    end)
  end)

  it("compat-serverresponse-end-after-statuses-without-body.js: finish() after 204, 205 and 304 is no error", function()
    H.run(function()
      local statuses = { 204, 205, 304 }
      local _, _, client = serve(function(_, res)
        res:writeHead(table.remove(statuses))
        res:finish()
      end)
      local got = {}
      for i = 1, 3 do got[i] = get(client)[":status"] end
      table.sort(got)
      assert.is_nil(failure)
      assert.same({ 204, 205, 304 }, got)
      client:close()
    end)
  end)

  it("compat-serverresponse-end.js: finish(data, encoding, cb), repeated calls, HEAD responses", function()
    H.run(function()
      local calls = {}
      local function mark(name) return function() calls[name] = (calls[name] or 0) + 1 end end
      local cases = {}
      local server = http2.createServer(guard(function(req, res)
        cases[req.url](req, res)
      end))
      local port = H.listen(server)
      local client = http2.connect("http://127.0.0.1:" .. port)
      -- chunk, encoding, cb; again from the cb, a tick later, in 'finish'
      cases["/repeat"] = function(_, res)
        res:finish("end", "utf8", function()
          mark("cb")()
          res:finish(mark("again"))
          h2lua.setImmediate(function() res:finish(mark("tick")) end)
        end)
        res:on("finish", function() res:finish(mark("in finish")) end)
        res:finish(mark("second"))
      end
      local _, _, body = get(client, { [":path"] = "/repeat" })
      assert.equal("end", body)
      -- returns res every time
      cases["/self"] = function(_, res)
        calls.self = res:finish() == res and res:finish() == res
      end
      get(client, { [":path"] = "/self" })
      -- no encoding: the bytes as given; no chunk at all
      cases["/utf8"] = function(_, res) res:finish("test\u{1F600}", mark("utf8")) end
      assert.equal("test\u{1F600}", select(3, get(client, { [":path"] = "/utf8" })))
      cases["/cb"] = function(_, res) res:finish(mark("cb only")) end
      assert.equal("", select(3, get(client, { [":path"] = "/cb" })))
      -- HEAD: headers end the stream; finish() is still needed for 'finish'
      cases["/head"] = function(_, res)
        calls.head_before = { res.writableEnded, res.finished }
        res:writeHead(C.HTTP_STATUS_OK, { foo = "bar" })
        calls.head_mid = res.finished
        res:finish("data", mark("head cb"))
        calls.head_after = { res.writableEnded, res.finished }
      end
      local h, flags, hb = get(client, { [":path"] = "/head", [":method"] = "HEAD" })
      assert.same({ 200, "bar", "" }, { h[":status"], h.foo, hb })
      assert.equal(5, flags) -- END_STREAM with END_HEADERS
      -- req 'end' though nothing read the (empty) body
      cases["/head-end"] = function(req, res)
        req:on("end", mark("req end"))
        res:finish()
      end
      get(client, { [":path"] = "/head-end", [":method"] = "HEAD" })
      -- finish(cb) from the stream's 'close'
      cases["/head-close"] = function(_, res)
        res:writeHead(C.HTTP_STATUS_OK, { foo = "bar" })
        res.stream:on("close", function() res:finish(mark("from close")) end)
      end
      h, flags = get(client, { [":path"] = "/head-close", [":method"] = "HEAD" })
      assert.same({ 200, "bar", 5 }, { h[":status"], h.foo, flags })
      -- answered after a timer
      cases["/head-late"] = function(_, res)
        h2lua.setTimeout(function()
          res:writeHead(C.HTTP_STATUS_OK, { foo = "bar" })
          res:finish("data", mark("late"))
        end, 10)
      end
      h, flags = get(client, { [":path"] = "/head-late", [":method"] = "HEAD" })
      assert.same({ 200, "bar", 5 }, { h[":status"], h.foo, flags })
      -- 'finish' only after finish(); a second finish() from its cb
      cases["/head-twice"] = function(_, res)
        res:writeHead(C.HTTP_STATUS_OK, { foo = "bar" })
        res:on("finish", mark("twice finish"))
        res:finish("data", function()
          mark("twice cb")()
          res:finish("data", mark("twice again"))
        end)
      end
      get(client, { [":path"] = "/head-twice", [":method"] = "HEAD" })
      cases["/head-just-end"] = function(_, res)
        res:finish("data", mark("just"))
        res:finish(mark("just again"))
      end
      h, flags = get(client, { [":path"] = "/head-just-end", [":method"] = "HEAD" })
      assert.same({ 200, 5 }, { h[":status"], flags })
      H.wait_until(function() return calls["just again"] and calls["twice again"] and calls["from close"] end, 2000)
      h2lua.sleep(20)
      assert.is_nil(failure)
      assert.same({
        cb = 1, again = 1, tick = 1, ["in finish"] = 1, second = 1, self = true,
        utf8 = 1, ["cb only"] = 1, head_before = { false, false }, head_mid = false,
        ["head cb"] = 1, head_after = { true, true }, ["req end"] = 1, ["from close"] = 1,
        late = 1, ["twice finish"] = 1, ["twice cb"] = 1, ["twice again"] = 1,
        just = 1, ["just again"] = 1,
      }, calls)
      client:close()
    end)
  end)

  it("compat-serverresponse-finished.js: finished and writableEnded; res.socket is nil from 'finish' on", function()
    H.run(function()
      local seen = {}
      local _, _, client = serve(function(_, res)
        seen.sock = res.socket ~= nil and res.socket == res.connection
        res:on("finish", function()
          seen.at_finish = { res.socket, res.connection }
          h2lua.setImmediate(function() seen.stream = res.stream ~= nil end)
        end)
        seen.before = { res.finished, res.writableEnded }
        res:finish()
        seen.after = { res.finished, res.writableEnded }
      end)
      get(client)
      assert.is_true(H.wait_until(function() return seen.stream end, 2000))
      assert.is_nil(failure)
      assert.same({ sock = true, at_finish = {}, stream = true, before = { false, false },
        after = { true, true } }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse-flushheaders.js: flushHeaders() sends the head once; writeHead then raises", function()
    H.run(function()
      local seen, response = {}, nil
      local _, _, client = serve(function(_, res)
        seen.before = { res.headersSent, res._header }
        res:flushHeaders()
        seen.after = { res.headersSent, res._header }
        res:flushHeaders()
        seen.writehead = code_of(res.writeHead, res, 400, { ["foo-bar"] = "abc123" })
        res:on("finish", function()
          h2lua.setImmediate(function() seen.late = code_of(res.flushHeaders, res) end)
        end)
        response = res
      end)
      local r = client:request({ [":path"] = "/" })
      local h = r:wait("response", 3000)
      -- the client saw the head while the response was still open
      response:finish()
      r:readAll()
      assert.is_true(H.wait_until(function() return seen.late end, 2000))
      assert.is_nil(failure)
      assert.same({ 200, nil }, { h[":status"], h["foo-bar"] })
      assert.same({ before = { false, false }, after = { true, true },
        writehead = "ERR_HTTP2_HEADERS_SENT", late = "no error" }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse-headers-after-destroy.js: setHeader/removeHeader after destroy() do not raise", function()
    H.run(function()
      local seen = {}
      local _, _, client = serve(function(_, res)
        res:on("finish", function()
          seen.sent = res.headersSent
          seen.now = code_of(function() res:setHeader("test", "value") res:removeHeader("test") end)
          h2lua.setImmediate(function()
            seen.later = code_of(function() res:setHeader("test", "value") res:removeHeader("test") end)
          end)
        end)
        res:destroy()
      end)
      local r = client:request({ [":path"] = "/" })
      r:on("error", function() end)
      r:resume()
      assert.is_true(H.wait_until(function() return seen.later end, 2000))
      assert.is_nil(failure)
      assert.same({ sent = false, now = "no error", later = "no error" }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse-headers-send-date.js: sendDate = false sends no date", function()
    H.run(function()
      local _, _, client = serve(function(_, res)
        res.sendDate = false
        res:writeHead(200)
        res:finish()
      end)
      local h = get(client)
      assert.is_nil(failure)
      assert.equal(200, h[":status"])
      assert.is_nil(h.date)
      client:close()
    end)
  end)

  it("compat-serverresponse-headers.js: header names trimmed and lower-cased, appendHeader, Node's errors, removeHeader('date')", function()
    H.run(function()
      local seen = {}
      local _, _, client = serve(function(_, res)
        local real, fake, odd = "foo-bar", "bar-foo", " FOO-BAR\n\t"
        res:setHeader(real, "abc123")
        seen[#seen + 1] = { res:hasHeader(real), res:hasHeader(fake), res:hasHeader(odd),
          res:getHeader(real), res:getHeader(odd), res:getHeader(fake) }
        res:removeHeader(fake)
        res:removeHeader(real)
        seen[#seen + 1] = res:hasHeader(real)
        res:setHeader(odd, "abc123")
        seen[#seen + 1] = { res:getHeader(odd), res:hasHeader(real) }
        res:appendHeader(real, "abc123")
        seen[#seen + 1] = res:getHeader(real)
        res:removeHeader(odd)
        seen[#seen + 1] = { res:hasHeader(odd), res:hasHeader(real) }
        seen[#seen + 1] = { code_of(res.hasHeader, res), code_of(res.getHeader, res),
          code_of(res.removeHeader, res) }
        local pseudo = {}
        for _, p in ipairs({ ":status", ":method", ":path", ":authority", ":scheme" }) do
          local ok, e = pcall(res.setHeader, res, p, "foobar")
          pseudo[#pseudo + 1] = (not ok) and (e.code .. " " .. e.name .. " " .. e.message)
        end
        seen[#seen + 1] = pseudo
        local _, e = pcall(res.setHeader, res, real, nil)
        seen[#seen + 1] = { e.code, e.message }
        seen[#seen + 1] = { code_of(res.setHeader, res), code_of(res.setHeader, res, "", "x") }
        res:setHeader(real, "abc123")
        seen[#seen + 1] = { res:getHeaderNames(), res:getHeaders() }
        res:getHeaders()[fake] = fake
        seen[#seen + 1] = res:hasHeader(fake)
        local dates = { res.sendDate }
        res.sendDate = false
        dates[2] = res.sendDate
        res.sendDate = true
        dates[3] = res.sendDate
        res:removeHeader("Date")
        dates[4] = res.sendDate
        seen[#seen + 1] = dates
        -- connection-specific fields are dropped, not fatal
        res:setHeader("Connection", "close")
        res:setHeader("keep-alive", "timeout=5")
        res:on("finish", function()
          seen.fin = { res.headersSent, code_of(res.setHeader, res, real, "x"),
            code_of(res.removeHeader, res, real) }
          h2lua.setImmediate(function()
            seen.later = { code_of(res.setHeader, res, real, "x"), code_of(res.removeHeader, res, real),
              res.headersSent }
          end)
        end)
        res:finish()
      end)
      local h = get(client)
      assert.is_true(H.wait_until(function() return seen.later end, 2000))
      assert.is_nil(failure)
      assert.same({ 200, "abc123", nil, nil, nil }, { h[":status"], h["foo-bar"], h.date,
        h.connection, h["keep-alive"] })
      local pseudo_err = "ERR_HTTP2_PSEUDOHEADER_NOT_ALLOWED TypeError Cannot set HTTP/2 pseudo-headers"
      assert.same({
        { true, false, true, "abc123", "abc123", nil },
        false,
        { "abc123", true },
        { "abc123", "abc123" },
        { false, false },
        { "ERR_INVALID_ARG_TYPE", "ERR_INVALID_ARG_TYPE", "ERR_INVALID_ARG_TYPE" },
        { pseudo_err, pseudo_err, pseudo_err, pseudo_err, pseudo_err },
        { "ERR_HTTP2_INVALID_HEADER_VALUE", 'Invalid value "nil" for header "foo-bar"' },
        { "ERR_INVALID_ARG_TYPE", "ERR_INVALID_HTTP_TOKEN" },
        { { "foo-bar" }, { ["foo-bar"] = "abc123" } },
        false,
        { true, false, true, false },
        fin = { true, "ERR_HTTP2_HEADERS_SENT", "ERR_HTTP2_HEADERS_SENT" },
        later = { "ERR_HTTP2_HEADERS_SENT", "ERR_HTTP2_HEADERS_SENT", true },
      }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse-settimeout.js: res:setTimeout fires its cb and 'timeout', and does nothing once done", function()
    H.run(function()
      local seen = { timeouts = 0, late = 0 }
      local _, _, client = serve(function(_, res)
        res:setTimeout(1, function() res:finish() end)
        res:on("timeout", function() seen.timeouts = seen.timeouts + 1 end)
        res:on("finish", function()
          res:setTimeout(1, function() seen.late = seen.late + 1 end)
          h2lua.setImmediate(function()
            res:setTimeout(1, function() seen.late = seen.late + 1 end)
            seen.done = true
          end)
        end)
      end)
      get(client)
      assert.is_true(H.wait_until(function() return seen.done end, 2000))
      h2lua.sleep(30)
      assert.is_nil(failure)
      assert.same({ timeouts = 1, late = 0, done = true }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse-statuscode.js: statusCode defaults to 200 and validates", function()
    H.run(function()
      local seen
      local _, _, client = serve(function(_, res)
        seen = { res.statusCode }
        for _, c in ipairs({ 200, 300, 400, 500 }) do res.statusCode = c end
        for _, c in ipairs({ 100, 99, 600 }) do
          local ok, e = pcall(function() res.statusCode = c end)
          seen[#seen + 1] = not ok and (e.code .. " " .. e.name)
        end
        res:finish()
      end)
      assert.equal(500, get(client)[":status"])
      assert.is_nil(failure)
      assert.same({ 200, "ERR_HTTP2_INFO_STATUS_NOT_ALLOWED RangeError",
        "ERR_HTTP2_STATUS_INVALID RangeError", "ERR_HTTP2_STATUS_INVALID RangeError" }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse-statusmessage*.js: HTTP/2 has no reason phrase: statusMessage reads '' and writeHead's is ignored", function()
    H.run(function()
      local seen = {}
      local _, _, client = serve(function(req, res)
        if req.url == "/msg" then
          res:writeHead(200, "OK", { ["foo-bar"] = "abc123" })
        end
        res:on("finish", function()
          seen[#seen + 1] = res.statusMessage
          res.statusMessage = "test"
          seen[#seen + 1] = res.statusMessage
        end)
        res:finish()
      end)
      local h = get(client, { [":path"] = "/msg" })
      assert.same({ 200, "abc123" }, { h[":status"], h["foo-bar"] })
      assert.equal(200, get(client)[":status"])
      assert.is_true(H.wait_until(function() return #seen == 4 end, 2000))
      assert.is_nil(failure)
      assert.same({ "", "", "", "" }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse-trailers.js: addTrailers and setTrailer send trailers; bad names and values raise", function()
    H.run(function()
      local seen
      local _, _, client = serve(function(_, res)
        res:addTrailers({ ABC = 123 })
        res:setTrailer("ABCD", 123)
        local _, e = pcall(res.setTrailer, res, "test", nil)
        seen = { code_of(res.addTrailers, res, { [""] = "test" }), e.code .. " " .. e.message,
          code_of(res.setTrailer, res), code_of(res.setTrailer, res, "") }
        res:finish("hello")
      end)
      local r = client:request({ [":path"] = "/" })
      local trailers
      r:on("trailers", function(t) trailers = t end)
      assert.equal("hello", r:readAll())
      assert.is_true(H.wait_until(function() return trailers end, 2000))
      assert.is_nil(failure)
      assert.same({ "123", "123" }, { trailers.abc, trailers.abcd })
      assert.same({ "ERR_INVALID_HTTP_TOKEN", 'ERR_HTTP2_INVALID_HEADER_VALUE Invalid value "nil" for header "test"',
        "ERR_INVALID_ARG_TYPE", "ERR_INVALID_HTTP_TOKEN" }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse-write.js: write after the stream closed, after finish(), after destroy(): false, errors to the cb", function()
    H.run(function()
      local seen = {}
      local cases = {}
      local server = http2.createServer(guard(function(req, res) cases[req.url](req, res) end))
      local port = H.listen(server)
      local client = http2.connect("http://127.0.0.1:" .. port)
      cases["/closed"] = function(_, res)
        res:on("error", function() seen.res_error = true end)
        seen.first = res:write("muahaha", "utf8", function() seen.first_cb = true end)
        res.stream:close(0, function()
          res:write("muahaha", function(err)
            seen.closed = err.code
            seen.again = res:write("muahaha", function(e2) seen.again_cb = e2.code end)
          end)
        end)
      end
      local r = client:request({ [":path"] = "/closed" })
      r:on("error", function() end)
      r:resume()
      r:wait("close", 3000)
      cases["/ended"] = function(_, res)
        res:finish()
        seen.ended_ret = res:write("asd", function(err) seen.ended = err.code end)
      end
      get(client, { [":path"] = "/ended" })
      cases["/destroyed"] = function(_, res)
        res:destroy()
        seen.destroyed = res:write("asd", function() seen.destroyed_cb = true end)
      end
      r = client:request({ [":path"] = "/destroyed" })
      r:on("error", function() end)
      r:resume()
      r:wait("close", 3000)
      H.wait_until(function() return seen.again_cb and seen.ended end, 2000)
      h2lua.sleep(20)
      assert.is_nil(failure)
      assert.same({ first = true, first_cb = true, closed = "ERR_HTTP2_INVALID_STREAM", again = false,
        again_cb = "ERR_HTTP2_INVALID_STREAM",
        ended_ret = false, ended = "ERR_STREAM_WRITE_AFTER_END", destroyed = false }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse-write.js and -end.js: the encoding argument: text as it is, hex and base64 decoded", function()
    H.run(function()
      local cbs = 0
      local _, _, client = serve(function(_, res)
        res:write("a\u{E9} ", "utf8")
        res:write("68656c6c6f", "hex", function() cbs = cbs + 1 end)
        res:write(" ", "latin1")
        res:finish("d29ybGQ=", "base64", function() cbs = cbs + 1 end)
      end)
      local _, _, body = get(client)
      assert.is_true(H.wait_until(function() return cbs == 2 end, 2000))
      assert.is_nil(failure)
      assert.equal("a\u{E9} hello world", body)
      client:close()
    end)
  end)

  it("compat-serverresponse-writehead-array.js: writeHead takes a list of pairs or a flat list; an odd flat list raises", function()
    H.run(function()
      local cases, seen = {}, {}
      local server = http2.createServer(guard(function(req, res) cases[req.url](req, res) end))
      local port = H.listen(server)
      local client = http2.connect("http://127.0.0.1:" .. port)
      cases["/pairs"] = function(_, res)
        seen.pairs = res:writeHead(200, { { "foo", "bar" }, { "foo", "baz" }, { "ABC", 123 } }) == res
        res:finish()
      end
      cases["/flat"] = function(_, res)
        seen.flat = res:writeHead(200, { "foo", "bar", "foo", "baz", "ABC", 123 }) == res
        res:finish()
      end
      cases["/odd"] = function(_, res)
        seen.odd = code_of(res.writeHead, res, 200, { "foo", "bar", "ABC", 123, "extra" })
        res:finish()
      end
      for _, p in ipairs({ "/pairs", "/flat" }) do
        local h = get(client, { [":path"] = p })
        assert.same({ 200, "bar, baz", "123" }, { h[":status"], h.foo, h.abc })
      end
      assert.equal(200, get(client, { [":path"] = "/odd" })[":status"])
      assert.is_nil(failure)
      assert.same({ pairs = true, flat = true, odd = "ERR_INVALID_ARG_VALUE" }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse-writehead.js: writeHead's headers override setHeader's; a second writeHead raises, not once the stream is gone", function()
    H.run(function()
      local seen = {}
      local _, _, client = serve(function(_, res)
        res:setHeader("foo-bar", "def456")
        seen.ret = res:writeHead(418, { ["foo-bar"] = "abc123" }) == res
        seen.again = code_of(res.writeHead, res, 300)
        res:on("finish", function()
          h2lua.setImmediate(function() seen.late = code_of(res.writeHead, res, 300) end)
        end)
        res:finish()
      end)
      local h = get(client)
      assert.is_true(H.wait_until(function() return seen.late end, 2000))
      assert.is_nil(failure)
      assert.same({ 418, "abc123" }, { h[":status"], h["foo-bar"] })
      assert.same({ ret = true, again = "ERR_HTTP2_HEADERS_SENT", late = "no error" }, seen)
      client:close()
    end)
  end)

  it("compat-serverresponse.js: res.req is the request, and may be assigned", function()
    H.run(function()
      local seen
      local _, _, client = serve(function(req, res)
        seen = { res.req == req }
        res.req = nil
        seen[2] = res.req
        res:finish()
      end)
      assert.equal(200, get(client)[":status"])
      assert.is_nil(failure)
      assert.same({ true }, seen)
      client:close()
    end)
  end)

  it("compat-write-early-hints.js: 103 with one link, with a list joined, and nothing for an empty list", function()
    H.run(function()
      local cases, ret = {}, {}
      local server = http2.createServer(guard(function(req, res) cases[req.url](req, res) end))
      local port = H.listen(server)
      local client = http2.connect("http://127.0.0.1:" .. port)
      cases["/one"] = function(_, res)
        ret.one = res:writeEarlyHints({ link = "</styles.css>; rel=preload; as=style" })
        res:finish("response content")
      end
      cases["/list"] = function(_, res)
        ret.list = res:writeEarlyHints({ link = { "</styles.css>; rel=preload; as=style",
          "</scripts.js>; rel=preload; as=script" } })
        res:finish("response content")
      end
      cases["/empty"] = function(_, res)
        ret.empty = res:writeEarlyHints({ link = {} })
        res:finish("response content")
      end
      local function hints(path)
        local r = client:request({ [":path"] = path })
        local info = {}
        r:on("headers", function(h) info[#info + 1] = { h[":status"], h.link } end)
        local h = r:wait("response", 3000)
        return info, h[":status"], r:readAll()
      end
      assert.same({ { { 103, "</styles.css>; rel=preload; as=style" } }, 200, "response content" },
        { hints("/one") })
      assert.same({ { { 103, "</styles.css>; rel=preload; as=style, </scripts.js>; rel=preload; as=script" } },
        200, "response content" }, { hints("/list") })
      assert.same({ {}, 200, "response content" }, { hints("/empty") })
      assert.is_nil(failure)
      assert.same({ one = true, list = true, empty = false }, ret)
      client:close()
    end)
  end)

  it("compat-write-early-hints-invalid-argument-type.js and -value.js: ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, no 103 sent", function()
    H.run(function()
      local seen
      local _, _, client = serve(function(_, res)
        seen = { code_of(res.writeEarlyHints, res, "this should not be here"),
          code_of(res.writeEarlyHints, res, { link = 100 }),
          code_of(res.writeEarlyHints, res, { link = "no angle brackets" }) }
        res:finish("response content")
      end)
      local r = client:request({ [":path"] = "/" })
      local info = 0
      r:on("headers", function() info = info + 1 end)
      assert.equal(200, r:wait("response", 3000)[":status"])
      r:readAll()
      assert.is_nil(failure)
      assert.equal(0, info)
      assert.same({ "ERR_INVALID_ARG_TYPE", "ERR_INVALID_ARG_VALUE", "ERR_INVALID_ARG_VALUE" }, seen)
      client:close()
    end)
  end)

  it("compat-write-head-destroyed.js: writeHead, write and finish on a destroyed stream do not raise", function()
    H.run(function()
      local seen
      local _, _, client = serve(function(req, res)
        req.stream:destroy()
        seen = code_of(function()
          res:writeHead(200)
          res:write("hello ")
          res:finish("world")
        end)
      end)
      local r = client:request({ [":path"] = "/" })
      local response = false
      r:on("response", function() response = true end)
      r:on("error", function() end)
      r:resume()
      r:wait("close", 3000)
      assert.is_nil(failure)
      assert.equal("no error", seen)
      assert.is_false(response)
      client:close()
    end)
  end)
end)
