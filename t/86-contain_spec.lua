-- Containment (issue 9, "Hostile peers and faulty scripts"): what a
-- hostile client or a faulty handler can do stays with its stream or its
-- session. Errors raised by lifecycle listeners ('close', 'error', ...)
-- are reported and never skip the runtime's cleanup; a client's GOAWAY
-- with an error code does not leak its session; a handler over its CPU
-- budget or the memory limit fails alone; SIGTERM is acted on while Lua
-- spins. Every wait is bounded; the bounds are in the names.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

-- Runs fn with io.stderr replaced by a buffer; -> what was written.
local function capture_stderr(fn)
  local real, parts = io.stderr, {}
  io.stderr = { write = function(self, ...)
    for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
    return self
  end }
  local ok, err = pcall(fn)
  io.stderr = real
  if not ok then error(err, 0) end
  return table.concat(parts)
end

-- n connections that each send GOAWAY(code) (t/clients/goaways.py).
local function goaways(port, n, code)
  local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/goaways.py " .. port .. " " .. n .. " " .. code, 60)
  assert.equal(0, rc, out .. err)
  return tonumber(out:match("done=(%d+)")), tonumber(out:match("eof=(%d+)"))
end

local function lua_kb()
  collectgarbage()
  collectgarbage()
  return collectgarbage("count")
end

local function closes_in(server, ms)
  local closed = false
  server:close(function() closed = true end)
  return H.wait_until(function() return closed end, ms)
end

describe("containment: lifecycle listeners and GOAWAY", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("400 GOAWAY(INTERNAL_ERROR) connections: sessions released, Lua memory flat (< 64 KiB), 'sessionError' each, server:close(cb) within 2 s", function()
    local out
    local stderr = capture_stderr(function()
      H.run(function()
        local server = http2.createServer()
        server:on("stream", function(s) s:respond({ [":status"] = 200 }) s:finish("ok") end)
        local errors = 0
        server:on("sessionError", function(err, session)
          assert.equal("ERR_HTTP2_SESSION_ERROR", err.code)
          errors = errors + 1
        end)
        local port = H.listen(server)
        goaways(port, 50, 2) -- warm the pools and caches
        assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000))
        local before = lua_kb()
        local done, eof = goaways(port, 400, 2)
        assert.equal(400, done)
        assert.equal(400, eof)
        assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000),
          "sessions left: " .. h2lua._stats().sessions)
        local grown = lua_kb() - before
        out = { grown = grown, errors = errors }
        assert.truthy(grown < 64, ("Lua memory grew by %.1f KiB"):format(grown))
        assert.equal(450, errors)
        assert.truthy(closes_in(server, 2000), "server:close(cb) did not complete")
      end, 60000)
    end)
    -- forwarded to 'sessionError': nothing unhandled to report
    assert.falsy(stderr:find("ERR_HTTP2_SESSION_ERROR", 1, true), stderr)
  end)

  it("a session 'error' listener that raises: reported with what raised, the session released, server:close(cb) within 2 s", function()
    local stderr = capture_stderr(function()
      H.run(function()
        local server = http2.createServer()
        local sessions = 0
        server:on("session", function(session)
          sessions = sessions + 1
          session:on("error", function() error("boom in the error listener") end)
        end)
        local port = H.listen(server)
        local done, eof = goaways(port, 20, 1)
        assert.equal(20, eof)
        assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000))
        assert.equal(20, sessions)
        assert.truthy(closes_in(server, 2000), "server:close(cb) did not complete")
      end, 30000)
    end)
    assert.truthy(stderr:find("error in a 'error' listener of Http2Session: ", 1, true), stderr)
    assert.truthy(stderr:find("boom in the error listener", 1, true), stderr)
  end)

  it("a stream 'close' listener that raises: reported, the stream's waiters woken (within 2 s), the session closes", function()
    local stderr = capture_stderr(function()
      H.run(function()
        local woke, waited
        local server = http2.createServer()
        server:on("stream", function(stream)
          stream:on("close", function() error("boom in the close listener") end)
          stream:respond({ [":status"] = 200 })
          stream:write("partial")
          -- trailers that never come: only the close ends this wait
          waited = true
          woke = table.pack(stream:wait("trailers"))
        end)
        local port = H.listen(server)
        local client = http2.connect("http://127.0.0.1:" .. port)
        local req = client:request({ [":path"] = "/" }, { endStream = false })
        req:wait("response", 2000)
        req:close(http2.constants.NGHTTP2_CANCEL)
        assert.truthy(H.wait_until(function() return woke ~= nil end, 2000),
          "the waiter was not woken (waited: " .. tostring(waited) .. ")")
        assert.is_nil(woke[1])
        assert.equal("closed", woke[2])
        client:close()
        assert.truthy(closes_in(server, 2000), "server:close(cb) did not complete")
      end, 30000)
    end)
    assert.truthy(stderr:find("error in a 'close' listener of Http2Stream: ", 1, true), stderr)
    assert.truthy(stderr:find("boom in the close listener", 1, true), stderr)
  end)

  it("a session 'close' listener and a 'goaway' listener that raise: both reported, the session still released (server:close(cb) within 2 s)", function()
    local stderr = capture_stderr(function()
      H.run(function()
        local server = http2.createServer()
        server:on("session", function(session)
          session:on("goaway", function() error("boom in goaway") end)
          session:on("close", function() error("boom in close") end)
        end)
        local port = H.listen(server)
        local _, eof = goaways(port, 10, 0)
        assert.equal(10, eof)
        assert.truthy(H.wait_until(function() return h2lua._stats().sessions == 0 end, 3000))
        assert.truthy(closes_in(server, 2000), "server:close(cb) did not complete")
      end, 30000)
    end)
    assert.truthy(stderr:find("error in a 'goaway' listener of Http2Session: ", 1, true), stderr)
    assert.truthy(stderr:find("error in a 'close' listener of Http2Session: ", 1, true), stderr)
  end)
end)
