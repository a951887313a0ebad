-- The Compatibility API over HTTP/2: createServer(onRequest), req and res.
local H = require "helper"
local http2 = require "http2"

-- Every test runs over HTTP/2 and over HTTP/1.1 (allowHTTP1), with a
-- client that prints "h name value" lines, "t name value" for trailers,
-- then the body.
for _, transport in ipairs({ "h2", "http/1.1" }) do
local h1 = transport == "http/1.1"
local VERSION = h1 and "1.1" or "2.0"

local function get(port, path, ...)
  local extra = {}
  for i, v in ipairs({ ... }) do extra[i] = H.shq(v) end
  return H.sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py " .. (h1 and "get1 " or "get ") .. port .. " " ..
    path .. " " .. table.concat(extra, " "))
end

local real_create = http2.createServer
local http2 = setmetatable({
  createServer = function(opts, fn)
    if type(opts) == "function" then opts, fn = {}, opts end
    opts = opts or {}
    opts.allowHTTP1 = true
    return real_create(opts, fn)
  end,
}, { __index = http2 })

describe("compatibility API over " .. transport, function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("createServer(onRequest) gets req and res with Node's fields", function()
    H.run(function()
      local seen
      local server = http2.createServer(function(req, res)
        seen = { req.method, req.url, req.authority, req.scheme, req.httpVersion,
          req.headers["x-a"], #req.rawHeaders > 0, req.stream ~= nil,
          req.socket.remoteAddress, req.complete }
        res:setHeader("Content-Type", "text/plain")
        res:setHeader("X-Foo", "bar")
        assert.equal("text/plain", res:getHeader("content-type"))
        assert.is_true(res:hasHeader("X-FOO"))
        assert.same({ "content-type", "x-foo" }, res:getHeaderNames())
        assert.same({ ["content-type"] = "text/plain", ["x-foo"] = "bar" }, res:getHeaders())
        res:removeHeader("x-foo")
        assert.is_false(res:hasHeader("x-foo"))
        assert.is_false(res.headersSent)
        res:writeHead(201, { ["x-bar"] = "baz" })
        assert.is_true(res.headersSent)
        assert.equal(201, res.statusCode)
        local ok, e = pcall(res.setHeader, res, "x-late", "1")
        assert.equal("ERR_HTTP2_HEADERS_SENT", e.code)
        res:write("hello ")
        res:finish("world")
        assert.is_true(res.finished)
        assert.is_true(res.writableEnded)
      end)
      local port = H.listen(server)
      local rc, out, err = get(port, "/p?x=1", "x-a=1")
      assert.equal(0, rc, err)
      assert.same({ "GET", "/p?x=1", "127.0.0.1:" .. port, "http", VERSION, "1", true, true,
        "127.0.0.1", false }, seen)  -- complete: the body was not read yet
      assert.truthy(out:find("h :status 201\n", 1, true))
      assert.truthy(out:find("h content-type text/plain\n", 1, true))
      assert.truthy(out:find("h x-bar baz\n", 1, true))
      assert.falsy(out:find("x-foo", 1, true))
      assert.truthy(out:find("hello world$"))
    end)
  end)

  it("statusCode and header setters validate like Node", function()
    H.run(function()
      local errs = {}
      local server = http2.createServer(function(req, res)
        local function try(f, ...) local _, e = pcall(f, ...) errs[#errs + 1] = e.code end
        try(function() res.statusCode = 99 end)
        try(function() res.statusCode = 600 end)
        try(function() res.statusCode = 101 end)
        try(res.setHeader, res, "bad name", "x")
        try(res.setHeader, res, "x-ok", nil)
        try(res.setHeader, res, "x-ok", "a\nb")
        try(function() res.headersSent = true end)
        res.statusCode = 404
        res.statusMessage = "Not Here" -- the reason phrase: HTTP/1.1 only
        assert.equal(h1 and "Not Here" or "", res.statusMessage)
        res.sendDate = false
        res:finish("nope")
        -- as Node: the error goes to the callback, write returns false
        local ret = res:write("late", function(e) errs[#errs + 1] = e.code end)
        errs[#errs + 1] = ret
      end)
      local port = H.listen(server)
      local rc, out = get(port, "/")
      assert.equal(0, rc)
      assert.same({ "ERR_HTTP2_STATUS_INVALID", "ERR_HTTP2_STATUS_INVALID",
        "ERR_HTTP2_INFO_STATUS_NOT_ALLOWED", "ERR_INVALID_HTTP_TOKEN",
        "ERR_HTTP2_INVALID_HEADER_VALUE", "ERR_HTTP2_INVALID_HEADER_VALUE",
        "ERR_INVALID_ARG_VALUE", false, "ERR_STREAM_WRITE_AFTER_END" }, errs)
      assert.truthy(out:find("h :status 404\n", 1, true))
      assert.falsy(out:find("h date", 1, true))
    end)
  end)

  it("reads the request body by events and by readAll, and sends trailers", function()
    H.run(function()
      local server = http2.createServer(function(req, res)
        local parts = {}
        req:on("data", function(c) parts[#parts + 1] = c end)
        req:on("end", function()
          res:addTrailers({ ["x-checksum"] = H.sha256(table.concat(parts)) })
          res:finish(tostring(#table.concat(parts)))
        end)
      end)
      local port = H.listen(server)
      local data = H.bytes(100000, 1)
      local path = os.tmpname()
      H.writefile(path, data)
      local rc, out, err
      if h1 then
        rc, out, err = H.sh("curl -sS --raw --http1.1 --data-binary @" .. path .. " http://127.0.0.1:" .. port .. "/")
      else
        rc, out, err = H.sh("nghttp -v -d " .. path .. " http://127.0.0.1:" .. port .. "/")
      end
      os.remove(path)
      assert.equal(0, rc, err)
      assert.truthy(out:find("x-checksum: " .. H.sha256(data), 1, true), out)
      assert.truthy(out:find("100000", 1, true))
    end)
  end)

  it("Expect: 100-continue gets 100 then the response; other expectations 417", function()
    H.run(function()
      local server = http2.createServer(function(req, res)
        res:finish("body " .. req:readAll())
      end)
      local port = H.listen(server)
      local rc, out = get(port, "/", "expect=100-continue")
      assert.equal(0, rc)
      assert.truthy(out:find("h :status 200\n", 1, true))
      local rc2, out2 = get(port, "/", "expect=something-else")
      assert.equal(0, rc2)
      assert.truthy(out2:find("h :status 417\n", 1, true))
      -- curl's own 100-continue handling
      local path = os.tmpname()
      H.writefile(path, "abc")
      local rc3, out3 = H.sh("curl -sS " .. (h1 and "--http1.1" or "--http2-prior-knowledge") ..
        " -H 'Expect: 100-continue' --data-binary @" .. path .. " http://127.0.0.1:" .. port .. "/")
      os.remove(path)
      assert.equal(0, rc3)
      assert.equal("body abc", out3)
    end)
  end)

  it("'checkContinue' takes over when listened to", function()
    H.run(function()
      local server = http2.createServer(function() error("not here") end)
      server:on("checkContinue", function(req, res)
        res:writeContinue()
        res:writeHead(202)
        res:finish("checked")
      end)
      local port = H.listen(server)
      local rc, out = get(port, "/", "expect=100-continue")
      assert.equal(0, rc)
      assert.truthy(out:find("h :status 202\n", 1, true))
      assert.truthy(out:find("checked$"))
    end)
  end)

  it("CONNECT without a 'connect' listener gets 405", function()
    H.run(function()
      local server = http2.createServer(function(_, res) res:finish("no") end)
      local port = H.listen(server)
      local rc, out = get(port, "/", ":method=CONNECT")
      assert.equal(0, rc)
      assert.truthy(out:find("h :status 405\n", 1, true))
    end)
  end)

  it("writeEarlyHints sends 103 before the response", function()
    H.run(function()
      local server = http2.createServer(function(_, res)
        res:writeEarlyHints({ link = "</style.css>; rel=preload; as=style" })
        local ok, e = pcall(res.writeEarlyHints, res, {})
        assert.equal("ERR_INVALID_ARG_VALUE", e.code)
        res:finish("ok")
      end)
      local port = H.listen(server)
      local rc, out = get(port, "/")
      assert.equal(0, rc)
      assert.truthy(out:find("h :status 103\n", 1, true), out)
      assert.truthy(out:find("h link </style.css>; rel=preload; as=style\n", 1, true))
      assert.truthy(out:find("h :status 200\n", 1, true))
    end)
  end)

  it("req.trailers/rawTrailers, complete, setTimeout on req and res", function()
    H.run(function()
      local got = {}
      local server = http2.createServer(function(req, res)
        if req.url == "/slow" then
          req:setTimeout(50, function() got.req_timeout = true end)
          res:setTimeout(50, function() got.res_timeout = true end)
          H.wait_until(function() return got.req_timeout end, 3000)
          res:finish("late")
          return
        end
        local body = req:readAll()
        got.complete = req.complete
        got.trailers = req.trailers["x-t"]
        got.raw = table.concat(req.rawTrailers, "=")
        res:finish(body)
      end)
      local port = H.listen(server)
      local path = os.tmpname()
      H.writefile(path, "payload")
      if h1 then
        local rc, _, err = H.sh(H.PY .. " -c " .. H.shq(([[
import socket
s = socket.create_connection(('127.0.0.1', %d))
s.sendall(b'POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\nConnection: close\r\n\r\n7\r\npayload\r\n0\r\nx-t: tv\r\n\r\n')
s.settimeout(5)
while s.recv(1000): pass
]]):format(port)))
        assert.equal(0, rc, err)
      else
        H.sh("nghttp -d " .. path .. " --trailer 'x-t: tv' http://127.0.0.1:" .. port .. "/t")
      end
      os.remove(path)
      assert.is_true(got.complete)
      assert.equal("tv", got.trailers)
      assert.equal("x-t=tv", got.raw)
      local rc, out = H.sh("curl -s " .. (h1 and "--http1.1" or "--http2-prior-knowledge") ..
        " http://127.0.0.1:" .. port .. "/slow")
      assert.equal("late", out)
      assert.is_true(got.req_timeout)
      assert.is_true(got.res_timeout)
    end)
  end)

  it("req:destroy() ends the exchange; 'aborted' when the client gives up", function()
    H.run(function()
      local events = {}
      local server = http2.createServer(function(req, res)
        if req.url == "/destroy" then
          res:write("partial")
          req:destroy()
          return
        end
        req:on("aborted", function() events[#events + 1] = "aborted " .. tostring(req.aborted) end)
        req:on("close", function() events[#events + 1] = "close" end)
      end)
      local port = H.listen(server)
      local proto = h1 and "--http1.1" or "--http2-prior-knowledge"
      local rc = H.sh("curl -s -m 5 " .. proto .. " http://127.0.0.1:" .. port .. "/destroy")
      assert.is_not.equal(0, rc)
      H.sh("curl -s -m 0.3 " .. proto .. " http://127.0.0.1:" .. port .. "/hang")
      H.wait_until(function() return #events >= 2 end, 3000)
      assert.same({ "aborted true", "close" }, events)
    end)
  end)

  it("req and res emit 'close'; res emits 'finish'", function()
    H.run(function()
      local events = {}
      local server = http2.createServer(function(req, res)
        req:on("close", function() events[#events + 1] = "req close" end)
        res:on("close", function() events[#events + 1] = "res close" end)
        res:finish("x", function() events[#events + 1] = "finish cb" end)
      end)
      local port = H.listen(server)
      assert.equal(0, (get(port, "/")))
      H.wait_until(function() return #events >= 3 end, 500)
      assert.same({ "finish cb", "req close", "res close" }, events)
    end)
  end)
end)
end
