-- Node.js's http2 test files found after the first count of 250 (the
-- index holds newer ones): each ported in our words, against a real
-- server on 127.0.0.1, every wait bounded.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local frame, PREFACE = H.frame, H.PREFACE
-- GET or POST / with :authority localhost, from HPACK's static table
local function request_block(post)
  return (post and "\x83" or "\x82") .. "\x84\x86\x41\x09localhost"
end

local function raw_socket(port)
  local sock = h2lua.net.connect(port, "127.0.0.1")
  sock:on("data", function() end)
  sock:on("error", function() end)
  assert(sock:wait("connect", 5000))
  return sock
end

describe("Node test/parallel/http2, files past the first 250", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("server-setLocalWindowSize.js: a server session's setLocalWindowSize(2^20) in 'session' shows in its state; the remote window stays the default", function()
    H.run(function()
      local server = http2.createServer()
      local state
      server:on("session", function(s)
        s:setLocalWindowSize(2 ^ 20)
        state = s.state
      end)
      server:on("stream", function(st) st:respond() st:finish("ok") end)
      local port = H.listen(server)
      local client = H.connect(port)
      local req = client:request()
      local body = req:readAll()
      assert.equal("ok", body)
      assert.truthy(state, "no session")
      assert.equal(2 ^ 20, state.effectiveLocalWindowSize)
      assert.equal(2 ^ 20, state.localWindowSize)
      assert.equal(http2.getDefaultSettings().initialWindowSize, state.remoteWindowSize)
      client:close()
      server:close()
    end)
  end)

  it("premature-close.js: a client sending preface, SETTINGS, HEADERS and DATA then closing at once: no server 'error', the session closes", function()
    H.run(function()
      local server = http2.createServer()
      local server_err, session_closed
      server:on("error", function(e) server_err = e end)
      server:on("session", function(s) s:on("close", function() session_closed = true end) end)
      server:on("stream", function(st) st:on("error", function() end) end)
      local port = H.listen(server)
      local sock = raw_socket(port)
      sock:write(PREFACE .. frame(4, 0, 0, "") .. frame(1, 4, 1, request_block(false)) ..
        frame(0, 0, 1, "Hello"))
      sock:finish()
      assert.is_true(H.wait_until(function() return session_closed end, 5000), "the session never closed")
      assert.is_nil(server_err)
      sock:destroy()
      server:close()
    end)
  end)

  it("misbehaving-flow-control-paused.js: a paused stream whose client writes past a 36-byte window: FLOW_CONTROL_ERROR, 'close', no 'end'", function()
    H.run(function()
      local server = http2.createServer({ settings = { initialWindowSize = 36 } })
      local err, closed, ended
      server:on("stream", function(st)
        st:pause()
        st:on("error", function(e) err = e end)
        st:on("close", function() closed = true end)
        st:on("end", function() ended = true end)
        st:respond()
        st:finish("ok")
      end)
      local port = H.listen(server)
      local sock = raw_socket(port)
      local data = frame(0, 0, 1, string.rep("hello\n", 3))
      sock:write(PREFACE .. frame(4, 0, 0, "") .. frame(4, 1, 0, "") ..
        frame(1, 4, 1, request_block(true)) .. data .. data .. data)
      assert.is_true(H.wait_until(function() return closed end, 5000), "the stream never closed")
      assert.equal("ERR_HTTP2_STREAM_ERROR", err and err.code)
      assert.equal("Stream closed with error code NGHTTP2_FLOW_CONTROL_ERROR", err.message)
      assert.is_nil(ended)
      sock:destroy()
      server:close()
    end)
  end)

  it("session-graceful-close.js: session:close() once the response finished: the client gets its response, a GOAWAY, and both sessions close", function()
    H.run(function()
      local server = http2.createServer()
      local session, server_closed
      server:on("session", function(s)
        session = s
        s:on("close", function() server_closed = true end)
      end)
      server:once("request", function(_, res)
        res:on("finish", function() session:close() end)
        res:finish()
      end)
      local port = H.listen(server)
      local client = H.connect(port)
      local goaways, status, ended = 0, nil, false
      client:on("goaway", function() goaways = goaways + 1 end)
      assert(client:wait("connect", 5000))
      local req = client:request({ [":path"] = "/", [":method"] = "GET", [":scheme"] = "http",
        [":authority"] = "localhost:" .. port })
      req:on("response", function(h) status = h[":status"] end)
      req:on("end", function() ended = true client:close() end)
      req:resume()
      assert.is_true(H.wait_until(function() return server_closed and client.closed end, 5000))
      assert.equal(200, status)
      assert.is_true(ended)
      assert.is_true(goaways >= 1)
      server:close()
    end)
  end)

  it("ip-address-host.js: a TLS client to https://127.0.0.1:port sends no SNI (servername nil on the server) and its originSet starts with that URL", function()
    local pki = H.pki()
    pki.make()
    H.run(function()
      local server = http2.createSecureServer({ key = pki.key("server"), cert = pki.pem("server") })
      local servername = "unset"
      server:on("stream", function(st)
        servername = st.session.servername
        st:respond({ ["content-type"] = "application/json" })
        st:finish("{}")
      end)
      local port = H.listen(server)
      local url = "https://127.0.0.1:" .. port
      local client = http2.connect(url, { rejectUnauthorized = false })
      local req = client:request()
      assert.equal("{}", req:readAll())
      assert.is_nil(servername)
      assert.equal(url, req.session.originSet[1])
      client:close()
      server:close()
    end)
    pki.remove()
  end)

end)
