-- Errors in handlers and object lifetimes: 500 or RST_STREAM, the server
-- keeps serving, handles to closed streams fail cleanly, waits end.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local function quiet(fn)
  -- handler errors are logged to stderr by design; keep the test output clean
  local real = io.stderr
  local sink = io.open("/dev/null", "w")
  io.stderr = sink
  local ok, err = pcall(fn)
  io.stderr = real
  sink:close()
  if not ok then error(err, 0) end
end

describe("lifetime", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("a handler that raises before respond() gets 500; the server keeps serving", function()
    quiet(function()
      H.run(function()
        local server = http2.createServer()
        server:on("stream", function(stream, headers)
          if headers[":path"] == "/boom" then error("boom") end
          if headers[":path"] == "/obj" then error({ code = "X" }) end
          stream:respond()
          stream:finish("fine")
        end)
        local port = H.listen(server)
        local url = "http://127.0.0.1:" .. port
        local rc, out = H.sh("curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge " .. url .. "/boom")
        assert.equal(0, rc)
        assert.equal("500", out)
        rc, out = H.sh("curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge " .. url .. "/obj")
        assert.equal("500", out)
        rc, out = H.sh("curl -s --http2-prior-knowledge " .. url .. "/ok")
        assert.equal(0, rc)
        assert.equal("fine", out)
      end)
    end)
  end)

  it("a handler that raises after respond() resets the stream with INTERNAL_ERROR", function()
    quiet(function()
      H.run(function()
        local server = http2.createServer()
        server:on("stream", function(stream, headers)
          stream:respond()
          if headers[":path"] == "/late" then
            stream:write("partial")
            error("late boom")
          end
          stream:finish("fine")
        end)
        local port = H.listen(server)
        local rc, out, err = H.sh("nghttp -nv http://127.0.0.1:" .. port .. "/late")
        assert.truthy(out:find("recv RST_STREAM frame", 1, true), out .. err)
        assert.truthy(out:find("error_code=INTERNAL_ERROR(0x02)", 1, true))
        rc, out = H.sh("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port .. "/ok")
        assert.equal(0, rc)
        assert.equal("fine", out)
      end)
    end)
  end)

  it("a client reset while the handler waits in read(): nil, 'closed', events, no crash", function()
    H.run(function()
      local server = http2.createServer()
      local res, why, events, st = nil, nil, {}, nil
      server:on("stream", function(stream, headers)
        if headers[":path"] == "/rst" then
          st = stream
          stream:on("aborted", function() events[#events + 1] = "aborted" end)
          stream:on("close", function() events[#events + 1] = "close:" .. stream.rstCode end)
          res, why = stream:read()
          events[#events + 1] = "read returned"
          return
        end
        stream:respond()
        stream:finish("after")
      end)
      local port = H.listen(server)
      local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py rst-after-headers " .. port)
      assert.equal(0, rc, err)
      assert.equal("/after 200 after\n", out)
      H.wait_until(function() return #events >= 3 end, 3000)
      assert.is_nil(res)
      assert.equal("closed", why)
      -- the stream's own events come first, then the waiting read returns
      assert.same({ "aborted", "close:8", "read returned" }, events)
      assert.is_true(st.destroyed)
      assert.is_true(st.aborted)
      assert.equal(8, st.rstCode)
      -- the handle outlives the stream and says so
      local ok, e = pcall(st.respond, st, {})
      assert.is_false(ok)
      assert.equal("ERR_HTTP2_INVALID_STREAM", e.code)
      assert.equal(0, st.bufferSize)
      assert.truthy(tostring(st):find("(closed)", 1, true))
      assert.is_nil(st:read())
      assert.same({ nil, "closed" }, { st:wait("data") })
    end)
  end)

  it("sleep() in a handler whose stream is reset wakes and fails cleanly", function()
    quiet(function()
      H.run(function()
        local server = http2.createServer()
        local after
        server:on("stream", function(stream, headers)
          if headers[":path"] == "/rst" then
            h2lua.sleep(300)
            after = { stream.destroyed, pcall(stream.write, stream, "x") }
            return
          end
          stream:respond()
          stream:finish("after")
        end)
        local port = H.listen(server)
        local rc = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py rst-after-headers " .. port)
        assert.equal(0, rc)
        H.wait_until(function() return after end, 5000)
        assert.is_true(after[1])
        assert.is_false(after[2])
        assert.equal("ERR_HTTP2_INVALID_STREAM", after[3].code)
      end)
    end)
  end)

  it("read() where it cannot wait raises a clear error", function()
    H.run(function()
      local server = http2.createServer()
      local e1
      server:on("stream", function(stream)
        -- take what has arrived, until read() would have to wait
        e1 = coroutine.wrap(function()
          for _ = 1, 100 do
            local ok, r = pcall(stream.read, stream)
            if not ok then return r end
            if r == nil then return "ended" end
          end
        end)()
        stream:respond()
        stream:finish()
      end)
      local port = H.listen(server)
      -- a client that keeps its body open (flow control holds it)
      assert.equal(0, (H.sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py noread " .. port .. " 1000000 0.5")))
      assert.is_table(e1)
      assert.equal("ERR_H2LUA_NOT_WAITABLE", e1.code)
      assert.truthy(e1.message:find("stream:read", 1, true))
    end)
    local ok, e2 = pcall(h2lua.sleep, 1)
    assert.is_false(ok)
    assert.equal("ERR_H2LUA_NOT_WAITABLE", e2.code)
  end)

  it("session:destroy() closes its streams; handles report closed", function()
    H.run(function()
      local server = http2.createServer()
      local st, sess, closes = nil, nil, {}
      server:on("stream", function(stream)
        st, sess = stream, stream.session
        stream:on("close", function() closes[#closes + 1] = "stream" end)
        sess:on("close", function() closes[#closes + 1] = "session" end)
        stream:respond()
        stream:write("x")
        sess:destroy()
        assert.is_true(sess.destroyed)
      end)
      local port = H.listen(server)
      H.sh("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
      H.wait_until(function() return #closes >= 2 end, 3000)
      assert.same({ "stream", "session" }, closes)
      assert.is_true(st.destroyed)
      local ok, e = pcall(st.respond, st)
      assert.equal("ERR_HTTP2_INVALID_STREAM", e.code)
      sess:destroy() -- twice is harmless
      sess:close()   -- so is closing a destroyed session
    end)
  end)

  it("the runtime frees every engine object when the Lua state closes", function()
    local prog = [[
      local http2 = require "http2"
      local server = http2.createServer()
      server:on("stream", function(s) s:respond() s:write("x") end)
      server:listen(0, "127.0.0.1", function()
        local port = server:address().port
        os.execute("curl -s -m 2 --http2-prior-knowledge http://127.0.0.1:" .. port .. "/ >/dev/null &")
        require("h2lua").setTimeout(function() require("h2lua").stop() end, 400)
      end)
    ]]
    local path = os.tmpname()
    H.writefile(path, prog)
    local rc = os.execute(H.BIN .. " " .. path .. " 2>/dev/null")
    os.remove(path)
    assert.is_true(rc)
  end)
end)
