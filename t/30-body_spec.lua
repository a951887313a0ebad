-- Request and response bodies: read()/readAll(), 'data'/'end', chunked
-- writes with backpressure, and real flow control both ways.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local MiB = 1024 * 1024

describe("bodies", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("reads a 1 MiB upload with readAll(), byte-exact", function()
    H.run(function()
      local data = H.bytes(MiB, 7)
      local path = os.tmpname()
      H.writefile(path, data)
      local got
      local server = http2.createServer()
      server:on("stream", function(stream, headers)
        got = stream:readAll()
        stream:respond({ [":status"] = 200 })
        stream:finish(H.sha256(got))
      end)
      local port = H.listen(server)
      local rc, out, err = H.sh("curl -sS --http2-prior-knowledge --data-binary @" .. path ..
        " http://127.0.0.1:" .. port .. "/up")
      os.remove(path)
      assert.equal(0, rc, err)
      assert.equal(#data, #got)
      assert.equal(H.sha256(data), out)
    end)
  end)

  it("streams a 16 MiB download written in chunks, byte-exact, honouring drain", function()
    H.run(function()
      local chunk = H.bytes(64 * 1024, 3)
      local n = 256
      local falses, drains = 0, 0
      local server = http2.createServer()
      server:on("stream", function(stream)
        stream:respond({ [":status"] = 200 })
        for _ = 1, n do
          if not stream:write(chunk) then
            falses = falses + 1
            assert(stream:wait("drain", 10000))
            drains = drains + 1
          end
          assert.is_true(stream.bufferSize <= 2 * #chunk)
        end
        stream:finish()
      end)
      local port = H.listen(server)
      local file = os.tmpname()
      local rc, _, err = H.sh("curl -sS --http2-prior-knowledge -o " .. file ..
        " http://127.0.0.1:" .. port .. "/down")
      assert.equal(0, rc, err)
      local body = H.readfile(file)
      os.remove(file)
      assert.equal(n * #chunk, #body)
      assert.equal(H.sha256(string.rep(chunk, n)), H.sha256(body))
      assert.is_true(falses > 0)
      assert.equal(falses, drains)
    end)
  end)

  it("echoes a body through 'data' and 'end' events", function()
    H.run(function()
      local server = http2.createServer()
      local chunks = 0
      server:on("stream", function(stream)
        stream:respond({ [":status"] = 200 })
        stream:on("data", function(c)
          chunks = chunks + 1
          stream:write(c)
        end)
        stream:on("end", function() stream:finish() end)
      end)
      local port = H.listen(server)
      local data = H.bytes(300 * 1024, 9)
      local path = os.tmpname()
      H.writefile(path, data)
      local rc, out, err = H.sh("curl -sS --http2-prior-knowledge --data-binary @" .. path ..
        " http://127.0.0.1:" .. port .. "/echo")
      os.remove(path)
      assert.equal(0, rc, err)
      assert.equal(#data, #out)
      assert.equal(H.sha256(data), H.sha256(out))
      assert.is_true(chunks >= 1)
    end)
  end)

  it("read() returns nil at the end, and an empty body reads as ''", function()
    H.run(function()
      local results = {}
      local server = http2.createServer()
      server:on("stream", function(stream)
        local all = stream:readAll()
        results[#results + 1] = all
        results[#results + 1] = stream:read()
        stream:respond()
        stream:finish()
      end)
      local port = H.listen(server)
      assert.equal(0, (H.sh("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")))
      assert.same({ "" }, results)
    end)
  end)

  it("a handler that never reads stops the peer at the window (memory bounded)", function()
    H.run(function()
      local server = http2.createServer()
      local seen
      server:on("stream", function(stream)
        seen = stream
        -- never read: respond only when the client gives up
      end)
      local port = H.listen(server)
      local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py noread " .. port ..
        " " .. 16 * MiB .. " 1.5")
      assert.equal(0, rc, err)
      local sent = tonumber(out:match("sent (%d+)"))
      assert.is_not_nil(sent)
      -- the default stream window is 65535 bytes: that is all that may pass
      assert.is_true(sent <= 65535, "sent " .. sent)
      assert.is_true(sent > 0)
      assert.is_not_nil(seen)
    end)
  end)

  it("a handler that reads later opens the window again (16 MiB upload)", function()
    H.run(function()
      local server = http2.createServer()
      local total = 0
      server:on("stream", function(stream)
        h2lua.sleep(50)  -- the client is stopped by flow control meanwhile
        while true do
          local c = stream:read()
          if not c then break end
          total = total + #c
        end
        stream:respond()
        stream:finish(tostring(total))
      end)
      local port = H.listen(server)
      local path = os.tmpname()
      H.writefile(path, H.bytes(16 * MiB, 5))
      local rc, out, err = H.sh("curl -sS --http2-prior-knowledge --data-binary @" .. path ..
        " http://127.0.0.1:" .. port .. "/big")
      os.remove(path)
      assert.equal(0, rc, err)
      assert.equal(tostring(16 * MiB), out)
    end)
  end)

  it("write(data, cb) calls cb once the data is handed to the session", function()
    H.run(function()
      local server = http2.createServer()
      local order = {}
      server:on("stream", function(stream)
        stream:respond()
        stream:write("a", function(err) order[#order + 1] = "cb:" .. tostring(err) end)
        order[#order + 1] = "after write"
        stream:finish("b", function() order[#order + 1] = "finish" end)
      end)
      local port = H.listen(server)
      local rc, out = H.sh("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
      assert.equal(0, rc)
      assert.equal("ab", out)
      assert.same({ "after write", "cb:nil", "finish" }, order)
    end)
  end)
end)

describe("files", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("respondWithFile and respondWithFD send files byte-exact, with ranges and statCheck", function()
    H.run(function()
      local path = os.tmpname()
      local data = H.bytes(3 * MiB + 17, 21)
      H.writefile(path, data)
      local errs = {}
      local server = http2.createServer({ allowHTTP1 = true })
      server:on("stream", function(stream, headers)
        local p = headers[":path"]
        if p == "/file" then
          stream:respondWithFile(path, { ["content-type"] = "application/octet-stream" })
        elseif p == "/range" then
          stream:respondWithFile(path, nil, { offset = 10, length = 100,
            statCheck = function(stat, h) h["x-size"] = stat.size end })
        elseif p == "/fd" then
          local f = io.open(path, "rb")
          stream:respondWithFD(f, {}, { offset = 1, length = 5 })
          f:close() -- respondWithFD leaves it open; the stream has its own copy
        elseif p == "/missing" then
          stream:respondWithFile(path .. ".nope", {}, { onError = function(e)
            errs[#errs + 1] = e.code
            stream:respond({ [":status"] = 404 })
            stream:finish("no file")
          end })
        elseif p == "/dir" then
          stream:respondWithFile("/tmp", {}, { onError = function(e)
            errs[#errs + 1] = e.code
            stream:respond({ [":status"] = 403 })
            stream:finish()
          end })
        end
      end)
      -- HTTP/1.1 requests come only as 'request' (Compatibility API)
      server:on("request", function(req)
        if req.httpVersion ~= "2.0" then req.stream:respondWithFile(path) end
      end)
      local port = H.listen(server)
      local base = "http://127.0.0.1:" .. port
      local out = os.tmpname()
      local rc, _, err = H.sh("curl -sS --http2-prior-knowledge -D " .. out .. ".h -o " .. out .. " " .. base .. "/file")
      assert.equal(0, rc, err)
      assert.equal(H.sha256(data), H.sha256(H.readfile(out)))
      assert.truthy(H.readfile(out .. ".h"):find("content-length: " .. #data, 1, true))
      rc, _, err = H.sh("curl -sS --http1.1 -o " .. out .. " " .. base .. "/file")
      assert.equal(0, rc, err)
      assert.equal(H.sha256(data), H.sha256(H.readfile(out)))
      os.remove(out)
      os.remove(out .. ".h")
      local _, body = H.sh("curl -sS --http2-prior-knowledge -i " .. base .. "/range")
      assert.truthy(body:find("x-size: " .. #data, 1, true))
      assert.truthy(body:find("\r\n\r\n" .. data:sub(11, 110):gsub("%p", "%%%0") .. "$"))
      local _, fdbody = H.sh("curl -sS --http2-prior-knowledge " .. base .. "/fd")
      assert.equal(data:sub(2, 6), fdbody)
      local _, miss = H.sh("curl -sS --http2-prior-knowledge -w '%{http_code}' " .. base .. "/missing")
      assert.equal("no file404", miss)
      local _, dir = H.sh("curl -sS --http2-prior-knowledge -w '%{http_code}' " .. base .. "/dir")
      assert.equal("403", dir)
      assert.same({ "ENOENT", "ERR_HTTP2_SEND_FILE" }, errs)
      os.remove(path)
    end)
  end)
end)
