-- The h2c server: hello world through real clients, listen/address/close,
-- the server and session events, listen errors.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local function hello_server()
  local server = http2.createServer()
  server:on("stream", function(stream, headers)
    stream:respond({ [":status"] = 200, ["content-type"] = "text/plain" })
    stream:finish("hello " .. headers[":path"] .. "\n")
  end)
  return server, H.listen(server)
end

describe("h2c server", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("answers curl --http2-prior-knowledge", function()
    H.run(function()
      local _, port = hello_server()
      local rc, out, err = H.sh("curl -sS -i --http2-prior-knowledge http://127.0.0.1:" .. port .. "/x")
      assert.equal(0, rc, err)
      assert.truthy(out:find("^HTTP/2 200"))
      assert.truthy(out:find("content%-type: text/plain"))
      assert.truthy(out:find("\r\ndate: %a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT"))
      assert.truthy(out:find("\r\n\r\nhello /x\n$"))
    end)
  end)

  it("answers nghttp, with SETTINGS first and END_STREAM on the body", function()
    H.run(function()
      local _, port = hello_server()
      local rc, out, err = H.sh("nghttp -nv http://127.0.0.1:" .. port .. "/n")
      assert.equal(0, rc, err)
      assert.truthy(out:find("recv SETTINGS frame"))
      assert.truthy(out:find(":status: 200", 1, true))
      assert.truthy(out:find("recv DATA frame <length=9, flags=0x01", 1, true))
      local rc2, body = H.sh("nghttp http://127.0.0.1:" .. port .. "/n")
      assert.equal(0, rc2)
      assert.equal("hello /n\n", body)
    end)
  end)

  it("listens on an ephemeral port and reports its address", function()
    H.run(function()
      local server = http2.createServer()
      local listening = 0
      server:listen(0, "127.0.0.1", function() listening = listening + 1 end)
      assert.is_nil(server:address() and nil)
      server:wait("listening", 2000)
      H.wait_until(function() return listening > 0 end, 1000)
      assert.equal(1, listening)
      local a = server:address()
      assert.equal("127.0.0.1", a.address)
      assert.equal("IPv4", a.family)
      assert.is_true(a.port > 0)
      assert.is_true(server.listening)
    end)
  end)

  it("emits 'connection' and 'session' before 'stream', with socket addresses", function()
    H.run(function()
      local server, port = hello_server()
      local order = {}
      local sess
      server:on("connection", function(sock) order[#order + 1] = "connection:" .. sock.remoteAddress end)
      server:on("session", function(s)
        sess = s
        order[#order + 1] = "session:" .. s.alpnProtocol
      end)
      local sock -- session.socket's fields while the session is open (unbound after, as in Node)
      server:on("stream", function()
        order[#order + 1] = "stream"
        local so = sess.socket
        sock = { localPort = so.localPort, localAddress = so.localAddress, remotePort = so.remotePort }
      end)
      local rc = H.sh("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
      assert.equal(0, rc)
      assert.same({ "connection:127.0.0.1", "session:h2c", "stream" }, order)
      assert.equal(port, sock.localPort)
      assert.equal("127.0.0.1", sock.localAddress)
      assert.is_true(sock.remotePort > 0)
      assert.equal(false, sess.encrypted)
      assert.equal(0, sess.type)
    end)
  end)

  it("reports EADDRINUSE as an 'error' with the code", function()
    H.run(function()
      local _, port = hello_server()
      local other = http2.createServer()
      other:listen(port, "127.0.0.1")
      local err = other:wait("error", 2000)
      assert.is_table(err)
      assert.equal("EADDRINUSE", err.code)
      assert.equal("listen", err.syscall)
      assert.equal(port, err.port)
      assert.is_false(other.listening)
    end)
  end)

  it("close() stops accepting, lets open sessions finish, then emits 'close'", function()
    H.run(function()
      local server = http2.createServer()
      local port = H.listen(server)
      local release
      server:on("stream", function(stream)
        stream:respond({ [":status"] = 200 })
        stream:write("part1 ")
        release = stream
      end)
      local closed = false
      server:on("close", function() closed = true end)
      local out
      h2lua.spawn(function()
        local _, o = H.sh("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
        out = o
      end)
      H.wait_until(function() return release end, 10000)
      assert.is_not_nil(release)
      server:close(function() end)
      assert.is_false(server.listening)
      local rc = H.sh("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
      assert.is_not.equal(0, rc)       -- refused: nothing listens any more
      h2lua.sleep(20)
      assert.is_false(closed)          -- the open session holds 'close' back
      release.session:close(function() end) -- graceful: the stream may finish
      release:finish("part2")
      server:wait("close", 5000)
      assert.is_true(closed)
      H.wait_until(function() return out end, 5000)
      assert.equal("part1 part2", out)
    end)
  end)

  it("rejects bad options and settings with Node's errors", function()
    local ok, err = pcall(http2.createServer, 42)
    assert.is_false(ok)
    assert.equal("ERR_INVALID_ARG_TYPE", err.code)
    ok, err = pcall(http2.createServer, { settings = { maxFrameSize = 10 } })
    assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", err.code)
    assert.equal("RangeError", err.name)
    ok, err = pcall(http2.createServer, { settings = { enablePush = 1 } })
    assert.equal("ERR_HTTP2_INVALID_SETTING_VALUE", err.code)
    assert.equal("TypeError", err.name)
  end)

  it("sends the settings option in its first SETTINGS frame", function()
    H.run(function()
      local server = http2.createServer({ settings = { maxConcurrentStreams = 7,
        initialWindowSize = 100000, maxHeaderSize = 20000 } })
      server:on("stream", function(s) s:respond(); s:finish() end)
      local port = H.listen(server)
      local rc, out = H.sh("nghttp -nv http://127.0.0.1:" .. port .. "/")
      assert.equal(0, rc)
      local frame = out:match("recv SETTINGS frame <length=%d+, flags=0x00, stream_id=0>(.-)\n%[")
      assert.truthy(frame)
      assert.truthy(frame:find("SETTINGS_MAX_CONCURRENT_STREAMS%(0x03%):7"))
      assert.truthy(frame:find("SETTINGS_INITIAL_WINDOW_SIZE%(0x04%):100000"))
      assert.truthy(frame:find("SETTINGS_MAX_HEADER_LIST_SIZE%(0x06%):20000"))
    end)
  end)
end)
