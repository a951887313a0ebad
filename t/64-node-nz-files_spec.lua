-- Node.js's test/parallel/http2 files from n to z about files as bodies
-- (respondWithFile, respondWithFD), checked the way h2lua spells them.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

-- A server whose 'stream' handler is |fn|, and a client session to it.
local function pair(fn)
  local server = http2.createServer()
  server:on("stream", fn)
  local port = H.listen(server)
  local client = http2.connect("http://127.0.0.1:" .. port)
  return server, client, port
end

-- A request and what came back: headers, body, the request stream.
local function get(client, headers)
  local req = client:request(headers or {})
  local h = req:wait("response", 5000)
  local body = req:readAll()
  return h, body, req
end

local function tmpfile(content)
  local path = os.tmpname()
  H.writefile(path, content)
  return path
end

local DATA = "...\n" .. string.rep("elipses \226\128\166 ", 40) .. "\n"
local PRINT_A = "console.log('A')\n" -- 17 bytes, as Node's printA.js

describe("Node test/parallel/http2 (n-z): files", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("respond-file.js: statCheck sets last-modified and content-length; the body is the file", function()
    H.run(function()
      local path = tmpfile(DATA)
      local seen
      local server, client = pair(function(st)
        st:respondWithFile(path, { ["content-type"] = "text/plain" }, {
          statCheck = function(stat, headers)
            seen = stat
            headers["last-modified"] = os.date("!%a, %d %b %Y %H:%M:%S GMT", stat.mtime)
            headers["content-length"] = stat.size
          end,
        })
      end)
      local h, body = get(client)
      assert.equal("text/plain", h["content-type"])
      assert.equal(#DATA, tonumber(h["content-length"]))
      assert.equal(os.date("!%a, %d %b %Y %H:%M:%S GMT", seen.mtime), h["last-modified"])
      assert.is_true(seen.isFile())
      assert.equal(DATA, body)
      client:close()
      server:close()
      os.remove(path)
    end)
  end)

  it("respond-file-range.js: offset 8 and length 3 send 3 bytes, with statCheck's header", function()
    H.run(function()
      local path = tmpfile(PRINT_A)
      local calls = 0
      local server, client = pair(function(st)
        st:respondWithFile(path, { ["content-type"] = "text/plain" }, {
          statCheck = function(_, headers) calls = calls + 1 headers["x-checked"] = "yes" end,
          offset = 8, length = 3,
        })
      end)
      local h, body = get(client)
      assert.equal(3, tonumber(h["content-length"]))
      assert.equal("yes", h["x-checked"])
      assert.equal(PRINT_A:sub(9, 11), body)
      assert.equal(1, calls)
      client:close()
      server:close()
      os.remove(path)
    end)
  end)

  it("respond-file-fd-range.js: statCheck sees the offset and length asked for; the body is clamped to the file", function()
    H.run(function()
      local path = tmpfile(PRINT_A)
      local fd = assert(io.open(path, "rb"))
      local seen = {}
      local server, client = pair(function(st, headers)
        local a, b = headers.range:match("bytes=(%d+)-(%d+)")
        local offset, length = tonumber(a), tonumber(b) - tonumber(a)
        st:respondWithFD(fd, { ["content-type"] = "text/plain" }, {
          offset = offset, length = length,
          statCheck = function(stat, h, opts)
            seen[#seen + 1] = { opts.offset, opts.length }
            h["content-length"] = math.min(opts.length, stat.size - offset)
          end,
        })
      end)
      local h1, b1 = get(client, { range = "bytes=8-11" })
      local h2, b2 = get(client, { range = "bytes=8-28" })
      assert.same({ { 8, 3 }, { 8, 20 } }, seen)
      assert.equal(3, tonumber(h1["content-length"]))
      assert.equal(PRINT_A:sub(9, 11), b1)
      assert.equal(9, tonumber(h2["content-length"]))
      assert.equal(PRINT_A:sub(9), b2)
      client:close()
      server:close()
      fd:close()
      os.remove(path)
    end)
  end)

  it("respond-file-fd.js and respond-file-filehandle.js: an open Lua file handle as the body, left open", function()
    H.run(function()
      local path = tmpfile(DATA)
      local f = assert(io.open(path, "rb"))
      local server, client = pair(function(st)
        st:respondWithFD(f, { ["content-type"] = "text/plain", ["content-length"] = #DATA })
      end)
      for _ = 1, 2 do
        local h, body = get(client)
        assert.equal("text/plain", h["content-type"])
        assert.equal(#DATA, tonumber(h["content-length"]))
        assert.equal(DATA, body)
      end
      assert.equal("file", io.type(f))
      client:close()
      server:close()
      f:close()
      os.remove(path)
    end)
  end)

  it("respond-file-compat.js: res.stream:respondWithFile from a 'request' handler", function()
    H.run(function()
      local path = tmpfile(DATA)
      local server = http2.createServer(function(_, res) res.stream:respondWithFile(path) end)
      local port = H.listen(server)
      local client = http2.connect("http://127.0.0.1:" .. port)
      local h, body = get(client)
      assert.equal(200, h[":status"])
      assert.equal(DATA, body)
      client:close()
      server:close()
      os.remove(path)
    end)
  end)

  it("respond-file-204.js, respond-file-errors.js, respond-file-fd-errors.js: 204/205/304 raise ERR_HTTP2_PAYLOAD_FORBIDDEN", function()
    H.run(function()
      local path = tmpfile(DATA)
      local errs = {}
      local server, client = pair(function(st)
        local fd = io.open(path, "rb")
        for _, status in ipairs({ 204, 205, 304 }) do
          for _, call in ipairs({ "respondWithFile", "respondWithFD" }) do
            local ok, e = pcall(st[call], st, call == "respondWithFile" and path or fd,
              { ["content-type"] = "text/plain", [":status"] = status })
            assert.is_false(ok)
            errs[#errs + 1] = e.code .. "|" .. e.name .. "|" .. e.message
          end
        end
        fd:close()
        st:respond({})
        st:finish()
      end)
      local h, body = get(client)
      assert.equal(200, h[":status"])
      assert.equal("", body)
      assert.equal(6, #errs)
      assert.equal("ERR_HTTP2_PAYLOAD_FORBIDDEN|Error|Responses with 204 status must not have a payload", errs[1])
      assert.equal("ERR_HTTP2_PAYLOAD_FORBIDDEN|Error|Responses with 205 status must not have a payload", errs[3])
      assert.equal("ERR_HTTP2_PAYLOAD_FORBIDDEN|Error|Responses with 304 status must not have a payload", errs[6])
      client:close()
      server:close()
      os.remove(path)
    end)
  end)

  it("respond-file-errors.js and respond-file-fd-errors.js: option types, headers sent, destroyed stream", function()
    H.run(function()
      local path = tmpfile(DATA)
      local results = {}
      local server, client = pair(function(st)
        local fd = io.open(path, "rb")
        local types = { boolean = true, ["function"] = function() end, number = 1, table = {}, string = "x" }
        local want = { offset = "number", length = "number", statCheck = "function" }
        for _, call in ipairs({ "respondWithFile", "respondWithFD" }) do
          for option, good in pairs(want) do
            for tname, v in pairs(types) do
              if tname ~= good then
                local ok, e = pcall(st[call], st, call == "respondWithFile" and path or fd,
                  { ["content-type"] = "text/plain" }, { [option] = v })
                assert.is_false(ok)
                assert.equal("ERR_INVALID_ARG_VALUE", e.code)
                assert.equal("TypeError", e.name)
                assert.truthy(e.message:find("^The property 'options%." .. option .. "' is invalid%. Received"), e.message)
                results.values = (results.values or 0) + 1
              end
            end
          end
        end
        for _, v in ipairs({ true, "x", {}, 1.5 }) do
          local ok, e = pcall(st.respondWithFD, st, v)
          assert.is_false(ok)
          assert.equal("ERR_INVALID_ARG_TYPE", e.code)
        end
        st:respond({ [":status"] = 200 })
        local ok, e = pcall(st.respondWithFile, st, path, { ["content-type"] = "text/plain" })
        results.sent = not ok and e.code
        ok, e = pcall(st.respondWithFD, st, fd)
        results.sent_fd = not ok and e.code
        st:destroy()
        ok, e = pcall(st.respondWithFile, st, path)
        results.destroyed = not ok and e.code .. "|" .. e.message
        ok, e = pcall(st.respondWithFD, st, fd)
        results.destroyed_fd = not ok and e.code
        fd:close()
      end)
      local req = client:request({})
      assert(req:wait("close", 5000))
      assert.equal(2 * (4 + 4 + 4), results.values)
      assert.equal("ERR_HTTP2_HEADERS_SENT", results.sent)
      assert.equal("ERR_HTTP2_HEADERS_SENT", results.sent_fd)
      assert.equal("ERR_HTTP2_INVALID_STREAM|The stream has been destroyed", results.destroyed)
      assert.equal("ERR_HTTP2_INVALID_STREAM", results.destroyed_fd)
      client:close()
      server:close()
      os.remove(path)
    end)
  end)

  it("respond-file-304.js: statCheck answers 304 itself and returns false; no body, no content-type", function()
    H.run(function()
      local path = tmpfile(DATA)
      local server, client = pair(function(st)
        st:respondWithFile(path, { ["content-type"] = "text/plain" }, {
          statCheck = function()
            st:respond({ [":status"] = 304 })
            return false
          end,
        })
      end)
      local h, body = get(client)
      assert.equal(304, h[":status"])
      assert.is_nil(h["content-type"])
      assert.equal("", body)
      client:close()
      server:close()
      os.remove(path)
    end)
  end)

  it("a statCheck that responds without returning false ends the file response too (Node checks headersSent)", function()
    H.run(function()
      local path = tmpfile(DATA)
      local server, client = pair(function(st)
        st:respondWithFile(path, nil, {
          statCheck = function()
            st:respond({ [":status"] = 412 })
            st:finish()
          end,
        })
      end)
      local h, body = get(client)
      assert.equal(412, h[":status"])
      assert.equal("", body)
      client:close()
      server:close()
      os.remove(path)
    end)
  end)

  it("respond-file-404.js: a missing file goes to onError as ENOENT; statCheck is not called", function()
    H.run(function()
      local missing = os.tmpname()
      os.remove(missing)
      local got, checked
      local server, client = pair(function(st)
        st:respondWithFile(missing, { ["content-type"] = "text/plain" }, {
          onError = function(err)
            got = err
            st:respond({ [":status"] = 404 })
            st:finish()
          end,
          statCheck = function() checked = true end,
        })
      end)
      local h, body = get(client)
      assert.equal(404, h[":status"])
      assert.equal("", body)
      assert.equal("ENOENT", got.code)
      assert.truthy(got.message:find(missing, 1, true))
      assert.is_nil(checked)
      client:close()
      server:close()
    end)
  end)

  it("a missing file without onError emits one 'error' on the stream and destroys it", function()
    H.run(function()
      local missing = os.tmpname()
      os.remove(missing)
      local errors_seen, closed = 0, false
      local server, client = pair(function(st)
        st:on("error", function(e) errors_seen = errors_seen + 1 assert.equal("ENOENT", e.code) end)
        st:on("close", function() closed = true end)
        st:respondWithFile(missing)
      end)
      local req = client:request({})
      req:on("error", function() end)
      assert(req:wait("close", 5000))
      assert.is_true(H.wait_until(function() return closed end, 2000))
      assert.equal(1, errors_seen)
      client:close()
      server:close()
    end)
  end)

  it("respond-file-error-dir.js: a directory goes to onError as ERR_HTTP2_SEND_FILE", function()
    H.run(function()
      local got, checked
      local server, client = pair(function(st)
        st:respondWithFile("/tmp", { ["content-type"] = "text/plain" }, {
          onError = function(err)
            got = err
            st:respond({ [":status"] = 404 })
            st:finish()
          end,
          statCheck = function() checked = true end,
        })
      end)
      local h, body = get(client)
      assert.equal(404, h[":status"])
      assert.equal("", body)
      assert.equal("ERR_HTTP2_SEND_FILE", got.code)
      assert.equal("Directories cannot be sent", got.message)
      assert.is_nil(checked)
      client:close()
      server:close()
    end)
  end)

  it("respond-file-error-pipe-offset.js: a FIFO with an offset goes to onError as ERR_HTTP2_SEND_FILE_NOSEEK", function()
    H.run(function()
      local fifo = os.tmpname()
      os.remove(fifo)
      assert(os.execute("mkfifo " .. fifo))
      local got, checked
      local server, client = pair(function(st)
        st:respondWithFile(fifo, { ["content-type"] = "text/plain" }, {
          offset = 10,
          onError = function(err)
            got = err
            st:respond({ [":status"] = 404 })
            st:finish()
          end,
          statCheck = function() checked = true end,
        })
      end)
      local h, body = get(client)
      assert.equal(404, h[":status"])
      assert.equal("", body)
      assert.equal("ERR_HTTP2_SEND_FILE_NOSEEK", got.code)
      assert.equal("Offset or length can only be specified for regular files", got.message)
      assert.is_nil(checked)
      client:close()
      server:close()
      os.remove(fifo)
    end)
  end)

  it("respond-file-with-pipe.js: a FIFO is streamed as it is written (statCheck called, no onError)", function()
    H.run(function()
      local fifo = os.tmpname()
      os.remove(fifo)
      assert(os.execute("mkfifo " .. fifo))
      local ready, release = fifo .. ".ready", fifo .. ".release"
      -- the writer holds the FIFO open (read-write, so its open does not
      -- wait) until the test has read the bytes, then closes: the end
      h2lua.spawn(function()
        H.sh(H.PY .. " -c " .. H.shq(string.format([[
import os, time
fd = os.open(%q, os.O_RDWR)
os.write(fd, b"Hello, world!\n")
open(%q, "w").close()
for _ in range(1000):
    if os.path.exists(%q): break
    time.sleep(0.01)
os.close(fd)
]], fifo, ready, release)), 20)
      end)
      assert.is_true(H.wait_until(function() return H.exists(ready) end, 5000))
      local checked, failed
      local server, client = pair(function(st)
        st:respondWithFile(fifo, { ["content-type"] = "text/plain" }, {
          onError = function(e) failed = e end,
          statCheck = function(stat) checked = stat end,
        })
      end)
      local req = client:request({})
      local h = req:wait("response", 5000)
      assert.equal(200, h[":status"])
      assert.is_nil(h["content-length"])
      local first = req:read()
      H.writefile(release, "")
      local rest = req:readAll()
      assert.equal("Hello, world!\n", first .. rest)
      assert.is_nil(failed)
      assert.is_false(checked.isFile())
      client:close()
      server:close()
      for _, p in ipairs({ fifo, ready, release }) do os.remove(p) end
    end)
  end)

  it("respond-file-fd-invalid.js: a descriptor that is not open: the response starts, then both sides see INTERNAL_ERROR", function()
    H.run(function()
      local server_err
      local server, client = pair(function(st)
        st:on("error", function(e) server_err = e end)
        st:respondWithFD(987654)
      end)
      local req = client:request({})
      local client_err
      req:on("error", function(e) client_err = e end)
      local got_data = false
      req:on("data", function() got_data = true end)
      assert(req:wait("close", 5000))
      assert.is_false(got_data)
      assert.equal(http2.constants.NGHTTP2_INTERNAL_ERROR, req.rstCode)
      assert.equal("ERR_HTTP2_STREAM_ERROR", client_err and client_err.code)
      assert.truthy(server_err)
      client:close()
      server:close()
    end)
  end)
end)
