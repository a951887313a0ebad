-- A connection that lives long: every request it ever carried must not
-- stay in its memory. nghttp2 keeps closed streams for RFC 7540's
-- priority tree unless told not to; at 256 bytes each they used to fill
-- maxSessionMemory (about 42 000 requests at the default 10 MiB), after
-- which every new stream was refused. With maxSessionMemory = 1 MiB the
-- old server failed after about 4 000 requests; it runs 12 000 here.
-- The client case (6 000 requests on one of our client sessions) guards
-- the same option on the client side.
local H = require "helper"
local http2 = require "http2"

local N = 12000

local function rss_kb(pid)
  local f = io.open("/proc/" .. pid .. "/status")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

describe("one long-lived connection", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("server: h2load sends " .. N .. " requests on one connection (maxSessionMemory 1 MiB), all answered, RSS growth < 16 MiB", function()
    H.run(function()
    local proc = H.start(nil, "-e " .. H.shq([[
      local http2 = require "http2"
      local s = http2.createServer({ maxSessionMemory = 1 })
      s:on("stream", function(st) st:respond({ [":status"] = 200 }) st:finish("ok") end)
      s:listen(0, "127.0.0.1", function() print("listening " .. s:address().port) io.stdout:flush() end)
    ]]))
    local port = tonumber(H.wait_output(proc, "listening (%d+)", 10))
    assert.truthy(port, "the server did not start")
    local before = rss_kb(proc.pid)
    local rc, out = H.sh("h2load -n " .. N .. " -c 1 -m 10 http://127.0.0.1:" .. port .. "/", 60)
    local after = rss_kb(proc.pid)
    H.stop(proc)
    assert.equal(0, rc, out)
    assert.truthy(out:find(N .. " succeeded, 0 failed", 1, true), out)
    assert.truthy(before and after, "no RSS read")
    assert.is_true(after - before < 16 * 1024, ("RSS grew from %d to %d kB"):format(before, after))
    end, 90000)
  end)

  it("client: our client sends " .. N // 2 .. " requests on one session (maxSessionMemory 1 MiB) and gets every answer", function()
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(st) st:respond({ [":status"] = 200 }) st:finish("ok") end)
      local port = H.listen(server)
      local s = http2.connect("http://127.0.0.1:" .. port, { maxSessionMemory = 1 })
      assert(s:wait("connect", 2000))
      local ok = 0
      for _ = 1, N // 2 // 10 do
        local reqs = {}
        for i = 1, 10 do reqs[i] = s:request({ [":path"] = "/" }) end
        for i = 1, 10 do
          local h = reqs[i]:wait("response", 5000)
          if h and h[":status"] == 200 and reqs[i]:readAll() == "ok" then ok = ok + 1 end
        end
      end
      assert.equal(N // 2, ok)
      s:close()
      server:close()
    end, 120000)
  end)
end)
