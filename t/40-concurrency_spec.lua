-- Many streams on one connection, many connections at once, and h2load.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local function path_server()
  local server = http2.createServer()
  server:on("stream", function(stream, headers)
    h2lua.sleep(math.random(0, 5))   -- finish out of order
    stream:respond({ [":status"] = 200 })
    stream:finish("you asked for " .. headers[":path"])
  end)
  return server, H.listen(server)
end

-- Checks each "PATH STATUS BODY" line of h2c.py's output; returns how many.
local function count_answers(out)
  local n = 0
  for path, status, body in out:gmatch("(%S+) (%d+) ([^\n]*)") do
    n = n + 1
    assert.equal("200", status)
    assert.equal("you asked for " .. path, body)
  end
  return n
end

describe("concurrency", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("serves 100 concurrent streams on one connection, each answered right", function()
    H.run(function()
      local _, port = path_server()
      local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py streams " .. port .. " 100")
      assert.equal(0, rc, err)
      assert.equal(100, count_answers(out))
    end)
  end)

  it("serves 50 connections at once, each answered right", function()
    H.run(function()
      local server, port = path_server()
      local sessions = 0
      server:on("session", function() sessions = sessions + 1 end)
      local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py conns " .. port .. " 50")
      assert.equal(0, rc, err)
      assert.equal(50, count_answers(out))
      assert.equal(50, sessions)
    end)
  end)

  it("h2load -n 20000 -c 10 -m 10 completes with 0 failed", function()
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(stream)
        stream:respond({ [":status"] = 200 })
        stream:finish("hello world\n")
      end)
      local port = H.listen(server)
      local rc, out, err = H.sh("h2load -n 20000 -c 10 -m 10 http://127.0.0.1:" .. port .. "/", 120)
      assert.equal(0, rc, err)
      assert.truthy(out:find("20000 total, 20000 started, 20000 done, 20000 succeeded, 0 failed, 0 errored", 1, true), out)
      assert.truthy(out:find("status codes: 20000 2xx", 1, true), out)
    end, 120000)
  end)
end)
