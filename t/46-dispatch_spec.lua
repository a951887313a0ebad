-- Who gets a request. While a server has one 'stream' listener and
-- nothing else listens, the engine hands a session's requests to that
-- listener directly; every change of listeners (on the server or the
-- session, 'stream' or 'request', added, removed, once) must be seen by
-- the very next request on the same session.
local H = require "helper"
local http2 = require "http2"

local function get(session, path)
  local req = session:request({ [":path"] = path })
  local headers = assert(req:wait("response", 5000))
  return headers[":status"], req:readAll()
end

local function answer(tag)
  return function(stream)
    if stream.headersSent then return end
    stream:respond({ [":status"] = 200 })
    stream:finish(tag)
  end
end

-- A server, a client session to it, and three warm-up requests (the
-- direct path is in place after the first).
local function setup(listener)
  local server = http2.createServer()
  server:on("stream", listener)
  local session
  server:on("session", function(se) session = se end)
  local port = H.listen(server)
  local s = http2.connect("http://127.0.0.1:" .. port)
  assert(s:wait("connect", 2000))
  for _ = 1, 3 do
    local status, body = get(s, "/warm")
    assert.equal(200, status)
    assert.equal("a", body)
  end
  return server, s, session
end

describe("request dispatch on one session", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("a second server 'stream' listener added later hears the next request", function()
    H.run(function()
      local heard = 0
      local server, s = setup(answer("a"))
      server:on("stream", function() heard = heard + 1 end)
      assert.same({ 200, "a" }, { get(s, "/next") })
      assert.equal(1, heard)
      s:close()
      server:close()
    end)
  end)

  it("a listener removed and another added: the new one answers", function()
    H.run(function()
      local first = answer("a")
      local server, s = setup(first)
      server:off("stream", first)
      server:on("stream", answer("b"))
      assert.same({ 200, "b" }, { get(s, "/next") })
      server:removeAllListeners("stream")
      server:on("stream", answer("c"))
      assert.same({ 200, "c" }, { get(s, "/next") })
      server:removeAllListeners()
      server:on("stream", answer("d"))
      assert.same({ 200, "d" }, { get(s, "/next") })
      s:close()
      server:close()
    end)
  end)

  it("a session 'stream' listener added later runs before the server's", function()
    H.run(function()
      local order = {}
      local server, s, session = setup(function(stream)
        order[#order + 1] = "server"
        answer("a")(stream)
      end)
      session:on("stream", function() order[#order + 1] = "session" end)
      order = {}
      assert.same({ 200, "a" }, { get(s, "/next") })
      assert.same({ "session", "server" }, order)
      s:close()
      server:close()
    end)
  end)

  it("a 'request' listener added later gets the Compatibility API's request", function()
    H.run(function()
      local server, s = setup(answer("a"))
      local seen
      server:on("request", function(req) seen = req.url end)
      assert.same({ 200, "a" }, { get(s, "/compat") })
      assert.equal("/compat", seen)
      s:close()
      server:close()
    end)
  end)

  it("a once listener hears one request, then the first listener alone again", function()
    H.run(function()
      local once = 0
      local server, s = setup(answer("a"))
      server:once("stream", function() once = once + 1 end)
      assert.same({ 200, "a" }, { get(s, "/1") })
      assert.same({ 200, "a" }, { get(s, "/2") })
      assert.equal(1, once)
      s:close()
      server:close()
    end)
  end)

  it("the direct listener gets Node's arguments: stream, headers, flags, rawHeaders", function()
    H.run(function()
      local got = {}
      local server, s = setup(function(stream, headers, flags, raw)
        got[#got + 1] = { path = headers[":path"], flags = flags, raw = type(raw),
          id = stream.id }
        for i = 1, raw and #raw or 0, 2 do
          if raw[i] == ":path" then got[#got].rawpath = raw[i + 1] end
        end
        answer("a")(stream)
      end)
      local req = s:request({ [":path"] = "/post", [":method"] = "POST" })
      req:finish("x")
      assert(req:wait("response", 5000))
      req:readAll()
      local last = got[#got]
      assert.equal("/post", last.path)
      assert.equal(4, last.flags) -- END_HEADERS, the body follows
      assert.equal("table", last.raw)
      assert.equal("/post", last.rawpath)
      assert.equal(7, last.id)
      assert.equal("/warm", got[3].path)
      assert.equal(5, got[3].flags) -- END_HEADERS | END_STREAM
      s:close()
      server:close()
    end)
  end)
end)
