-- h2lua.net: TCP sockets and servers, and http2.connect's createConnection
-- over one of them.
local H = require "helper"
local h2lua = require "h2lua"
local http2 = require "http2"

describe("h2lua.net", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("connects to a net server: data both ways, end, close, addresses", function()
    H.run(function()
      local net = h2lua.net
      local peer
      local srv = net.createServer(function(sock)
        peer = sock
        sock:on("data", function(d) sock:write(d:upper()) end)
        sock:on("end", function() sock:finish() end)
      end)
      srv:listen(0, "127.0.0.1")
      assert(srv:wait("listening", 2000))
      local port = srv:address().port
      local c = net.connect(port, "127.0.0.1")
      assert(c:wait("connect", 2000))
      assert.equal("127.0.0.1", c.remoteAddress)
      assert.equal(port, c.remotePort)
      c:write("hello ")
      c:finish("world")
      assert.equal("HELLO WORLD", c:readAll())
      assert.is_false(c:wait("close", 2000)) -- 'close' (hadError = false)
      assert.is_true(c.destroyed)
      assert.equal(c.localPort, peer.remotePort)
      local ok, e = pcall(c.write, c, "late")
      assert.equal("ERR_STREAM_WRITE_AFTER_END", e.code)
      srv:close()
    end)
  end)

  it("what an 'end' listener writes goes out before the socket closes (Node's echo target)", function()
    H.run(function()
      local net = h2lua.net
      local srv = net.createServer(function(sock)
        local name = ""
        sock:on("data", function(d) name = name .. d end)
        sock:on("end", function() sock:finish("hello " .. name) end)
      end)
      srv:listen(0, "127.0.0.1")
      assert(srv:wait("listening", 2000))
      local c = net.connect(srv:address().port, "127.0.0.1")
      assert(c:wait("connect", 2000))
      c:finish("Jane")
      assert.equal("hello Jane", c:readAll())
      assert.is_false(c:wait("close", 2000))
      -- nobody ends it: the socket still closes after the peer's FIN
      local quiet = net.createServer(function(sock) sock:on("data", function() end) end)
      quiet:listen(0, "127.0.0.1")
      assert(quiet:wait("listening", 2000))
      local q = net.connect(quiet:address().port, "127.0.0.1")
      assert(q:wait("connect", 2000))
      q:finish("x")
      assert.equal("", q:readAll())
      assert.is_false(q:wait("close", 2000))
      srv:close()
      quiet:close()
    end)
  end)

  it("reports ECONNREFUSED, and a destroyed socket closes", function()
    H.run(function()
      local bad = h2lua.net.connect(1, "127.0.0.1")
      local err = bad:wait("error", 3000)
      assert.equal("ECONNREFUSED", err.code)
      local srv = h2lua.net.createServer(function(s) s:destroy() end)
      srv:listen(0, "127.0.0.1")
      srv:wait("listening", 2000)
      local c = h2lua.net.connect(srv:address().port, "127.0.0.1")
      assert.equal("", c:readAll())
      srv:close()
    end)
  end)

  it("write() after false without 'drain': up to 1 MiB more is buffered, then ERR_H2LUA_WRITE_BUFFER_FULL, the socket destroyed with it ('error', 'close' with hadError)", function()
    H.run(function()
      local net = h2lua.net
      local srv = net.createServer(function(sock) sock:pause() end) -- never reads
      srv:listen(0, "127.0.0.1")
      srv:wait("listening", 2000)
      local c = net.connect(srv:address().port, "127.0.0.1")
      assert(c:wait("connect", 2000))
      local errs = {}
      c:on("error", function(e) errs[#errs + 1] = e.code end)
      local chunk = string.rep("x", 65536)
      local written, falses, ok, e = 0, 0, true, nil
      for _ = 1, 1600 do -- 100 MiB, ignoring false
        ok, e = pcall(c.write, c, chunk)
        if not ok then break end
        if e == false then falses = falses + 1 end
        written = written + #chunk
      end
      assert.is_false(ok)
      assert.equal("ERR_H2LUA_WRITE_BUFFER_FULL", e.code)
      assert.is_true(falses > 0)
      assert.is_true(written <= net.MAX_IGNORED + 65536 + 16384, tostring(written))
      assert.is_true(c.destroyed)
      assert.is_true(c:wait("close", 2000)) -- hadError
      assert.same({ "ERR_H2LUA_WRITE_BUFFER_FULL" }, errs)
      srv:close()
    end)
  end)

  it("pipe() carries a large body with backpressure", function()
    H.run(function()
      local net = h2lua.net
      local data = H.bytes(2 * 1024 * 1024, 6)
      local srv = net.createServer(function(sock) sock:pipe(sock) end) -- echo
      srv:listen(0, "127.0.0.1")
      srv:wait("listening", 2000)
      local c = net.connect(srv:address().port, "127.0.0.1")
      h2lua.spawn(function()
        for i = 1, #data, 65536 do
          if not c:write(data:sub(i, i + 65535)) then c:wait("drain", 5000) end
        end
        c:finish()
      end)
      local back = c:readAll()
      assert.equal(#data, #back)
      assert.equal(H.sha256(data), H.sha256(back))
      srv:close()
    end)
  end)

  it("http2.connect with createConnection runs h2c over our socket", function()
    H.run(function()
      local h2 = http2.createServer()
      h2:on("stream", function(st) st:respond() st:finish("via net socket") end)
      local port = H.listen(h2)
      local made = 0
      local s = http2.connect("http://127.0.0.1:" .. port, { createConnection = function(authority)
        made = made + 1
        return h2lua.net.connect(port, "127.0.0.1")
      end })
      local req = s:request({ [":path"] = "/" })
      assert.equal(200, req:wait("response", 5000)[":status"])
      assert.equal("via net socket", req:readAll())
      assert.equal(1, made)
      s:close()
      local ok, e = pcall(http2.connect, "http://127.0.0.1:" .. port, { createConnection = function() return 42 end })
      assert.equal("ERR_INVALID_RETURN_VALUE", e.code)
    end)
  end)
end)
