-- Node.js's http2 test files that neither the index's list of 250 nor the
-- first names found later covered (test/parallel, test/sequential and
-- test/internet):
-- each ported in our words, against a real server on 127.0.0.1, every
-- wait bounded. docs/node-tests.md ("found later") maps each file.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local frame, PREFACE = H.frame, H.PREFACE

-- a TCP client that never reads what the server sends
local function deaf_socket(port)
  local sock = h2lua.net.connect(port, "127.0.0.1")
  sock:on("error", function() end)
  assert(sock:wait("connect", 5000))
  sock:pause()
  return sock
end

-- Node's flood tests: 35 000 frames of one kind after the preface from a
-- peer that never reads; the server session errs (ERR_HTTP2_ERROR, the
-- flooding message) and closes, and no stream opens.
local function flood(one_frame, with_settings)
  H.run(function()
    local server = http2.createServer()
    local err, closed, streams = nil, false, 0
    server:on("stream", function() streams = streams + 1 end)
    server:on("session", function(s)
      s:on("error", function(e) err = e end)
      s:on("close", function() closed = true end)
    end)
    local port = H.listen(server)
    local sock = deaf_socket(port)
    local head = PREFACE .. (with_settings and frame(4, 0, 0, "") or "")
    sock:write(head .. string.rep(one_frame, 35000))
    assert.is_true(H.wait_until(function() return closed end, 10000), "the session never closed")
    assert.equal(0, streams)
    assert.truthy(err, "no session 'error'")
    assert.equal("ERR_HTTP2_ERROR", err.code)
    assert.equal("Flooding was detected in this HTTP/2 session, and it must be closed", err.message)
    sock:destroy()
    server:close()
  end, 30000)
end

-- Node's timeout-large-write tests: a 3 MB response, the server's and the
-- stream's timeouts at 500 ms; the client reads at least 500 000 bytes, then
-- pauses until 600 ms (the first time; 500 ms later on) after the first
-- chunk of that round. A timeout may come only before a round's first chunk,
-- never while the client sits paused with the response still being written.
local WRITE_SIZE, MIN_READ, TIMEOUT = 3000000, 500000, 500
local function timeout_large_write(respond_with)
  local pki = H.pki()
  pki.make()
  H.run(function()
    local server = http2.createSecureServer({ key = pki.key("server"), cert = pki.pem("server") })
    local bad_timeouts, paused = 0, false
    local function on_timeout() if paused then bad_timeouts = bad_timeouts + 1 end end
    server:on("stream", function(st) respond_with(st, on_timeout) end)
    server:setTimeout(TIMEOUT)
    server:on("timeout", on_timeout)
    local port = H.listen(server)
    local client = http2.connect("https://localhost:" .. port, { rejectUnauthorized = false })
    local req = client:request({ [":path"] = "/" })
    req:finish()
    local got, round, first_at, offset, ended = 0, 0, nil, 100, false
    req:on("data", function(chunk)
      if round == 0 then
        paused = false
        first_at = h2lua.now()
      end
      round = round + #chunk
      got = got + #chunk
      if round >= MIN_READ and round < WRITE_SIZE then
        paused = true
        round = 0
        req:pause()
        local wait = TIMEOUT + offset - (h2lua.now() - first_at)
        offset = 0
        h2lua.setTimeout(function() req:resume() end, math.max(wait, 1))
      end
    end)
    req:on("end", function() ended = true end)
    assert.is_true(H.wait_until(function() return ended end, 20000), "no 'end'")
    assert.equal(WRITE_SIZE, got)
    assert.equal(0, bad_timeouts)
    client:close()
    server:close()
  end, 30000)
  pki.remove()
end

describe("Node http2 test files the count missed (test/parallel, test/sequential, test/internet)", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("respond-file-push.js: a pushed stream answered with respondWithFD: the client's 'push' has its content-type, content-length, last-modified, and the body is the file", function()
    local path = os.tmpname()
    local data = string.rep("... and so on\n", 300)
    H.writefile(path, data)
    local mtime = "Tue, 01 Dec 2026 10:00:00 GMT"
    local fd = assert(io.open(path, "rb"))
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(st)
        st:respond({})
        local err, pushed = st:pushStream({ [":path"] = "/file.txt", [":method"] = "GET" })
        assert(not err, err)
        pushed:respondWithFD(fd, { ["content-type"] = "text/plain",
          ["content-length"] = #data, ["last-modified"] = mtime })
        st:finish()
      end)
      local port = H.listen(server)
      local client = H.connect(port)
      local push_headers, pushed_body, pushed_ended, main_ended, pushed_path
      client:on("stream", function(pushed, request_headers)
        pushed_path = request_headers[":path"]
        pushed:on("push", function(h) push_headers = h end)
        local parts = {}
        pushed:on("data", function(c) parts[#parts + 1] = c end)
        pushed:on("end", function()
          pushed_body = table.concat(parts)
          pushed_ended = true
        end)
      end)
      local req = client:request({})
      local responded
      req:on("response", function() responded = true end)
      req:on("end", function() main_ended = true end)
      req:resume()
      req:finish()
      assert.is_true(H.wait_until(function() return pushed_ended and main_ended end, 5000),
        "the pushed stream or the request did not end")
      assert.is_true(responded)
      assert.equal("/file.txt", pushed_path)
      assert.truthy(push_headers, "no 'push' event")
      assert.equal("text/plain", push_headers["content-type"])
      assert.equal(#data, tonumber(push_headers["content-length"]))
      assert.equal(mtime, push_headers["last-modified"])
      assert.equal(data, pushed_body)
      client:destroy()
      server:close()
    end)
    fd:close()
    os.remove(path)
  end)

  it("respond-file-fd-leak.js: respondWithFile with a request pseudo-header (:method): no throw, the stream's 'error' is ERR_HTTP2_INVALID_PSEUDOHEADER, the client's is INTERNAL_ERROR, and no descriptor stays open", function()
    -- the descriptors of this process (the shell's parent)
    local function open_fds()
      local p = io.popen("ls /proc/$PPID/fd | wc -l")
      local n = tonumber(p:read("a"))
      p:close()
      return n
    end
    local path = os.tmpname()
    H.writefile(path, "some data\n")
    H.run(function()
      local server = http2.createServer()
      local raised, stream_err, stream_closed, fds_before, fds_after
      server:on("stream", function(st)
        fds_before = open_fds()
        st:on("error", function(e) stream_err = e end)
        st:on("close", function()
          stream_closed = true
          fds_after = open_fds()
        end)
        raised = H.raised(st.respondWithFile, st, path, { [":method"] = "GET", ["content-type"] = "text/plain" })
      end)
      local port = H.listen(server)
      local client = H.connect(port)
      local req = client:request()
      local req_err, req_closed
      req:on("error", function(e) req_err = e end)
      req:on("close", function() req_closed = true end)
      req:finish()
      assert.is_true(H.wait_until(function() return req_closed and stream_closed end, 5000), "no close")
      assert.is_nil(raised)
      assert.equal("ERR_HTTP2_INVALID_PSEUDOHEADER", stream_err and stream_err.code)
      assert.equal("ERR_HTTP2_STREAM_ERROR", req_err and req_err.code)
      assert.equal(http2.constants.NGHTTP2_INTERNAL_ERROR, req.rstCode)
      assert.equal(fds_before, fds_after)
      client:close()
      server:close()
    end)
    os.remove(path)
  end)

  it("graceful-close.js (v18 part): server:close() while a 1 MiB response is being written: the whole body arrives, the stream closes, then the close callback once the client has gone", function()
    H.run(function()
      local server = http2.createServer()
      local stream_closed, server_closed, closed_before_cb = false, false, nil
      server:on("stream", function(st)
        st:respond({ ["content-type"] = "text/plain", [":status"] = 200 })
        server:close(function()
          closed_before_cb = stream_closed
          server_closed = true
        end)
        st:on("close", function() stream_closed = true end)
        local chunk = string.rep("x", 64 * 1024)
        for _ = 1, 16 do st:write(chunk) end
        st:finish()
      end)
      local port = H.listen(server)
      local client = H.connect(port)
      local req = client:request({ [":path"] = "/" })
      local received, req_closed = 0, false
      req:on("data", function(c) received = received + #c end)
      req:on("close", function() req_closed = true end)
      req:finish()
      assert.is_true(H.wait_until(function() return req_closed end, 10000), "the request never closed")
      assert.equal(64 * 1024 * 16, received)
      assert.is_true(H.wait_until(function() return stream_closed end, 5000), "the server stream never closed")
      -- v18: the session carries on after server:close() until it ends
      client:close()
      assert.is_true(H.wait_until(function() return server_closed end, 5000), "no close callback")
      assert.is_true(closed_before_cb)
    end)
  end)

  it("compat-write-head-after-close.js: res:writeHead after req.stream:close(): no response head reaches the client, which gets 'end'", function()
    H.run(function()
      local server = http2.createServer(function(req, res)
        req.stream:close()
        res:writeHead(200, { ["content-type"] = "text/plain" })
      end)
      local port = H.listen(server)
      local client = H.connect(port)
      local req = client:request({ [":path"] = "/" })
      local responded, ended, closed = false, false, false
      req:on("response", function() responded = true end)
      req:on("end", function() ended = true end)
      req:on("close", function() closed = true end)
      req:on("error", function() end)
      req:resume()
      req:finish()
      assert.is_true(H.wait_until(function() return closed end, 5000), "the request never closed")
      assert.is_false(responded)
      assert.is_true(ended)
      client:close()
      server:close()
    end)
  end)

  it("invalid-last-stream-id.js: a client's GOAWAY whose last stream id names one of its own (1): the server session's 'error' and the server's 'sessionError' are ERR_HTTP2_ERROR 'Protocol error', and the session closes", function()
    H.run(function()
      local server = http2.createServer()
      local errs, server_errs, closed = {}, {}, false
      server:on("error", function(e) errs[#errs + 1] = "server error " .. tostring(e.code) end)
      server:on("session", function(s)
        s:on("error", function(e) errs[#errs + 1] = e end)
        s:on("close", function() closed = true end)
      end)
      server:on("sessionError", function(e, session)
        server_errs[#server_errs + 1] = { e = e, session = session }
      end)
      local port = H.listen(server)
      local rc = H.raw(port, "preface; settings; goaway 1 0; wait 0.3")
      assert.equal(0, rc)
      assert.is_true(H.wait_until(function() return closed end, 2000))
      assert.equal(1, #errs)
      assert.equal("ERR_HTTP2_ERROR", errs[1].code)
      assert.equal("Protocol error", errs[1].message)
      assert.equal(1, #server_errs)
      assert.equal("ERR_HTTP2_ERROR", server_errs[1].e.code)
      assert.equal(http2.constants.NGHTTP2_SESSION_SERVER, server_errs[1].session.type)
      server:close()
    end)
  end)

  it("raw-headers.js (v18 part): rawHeaders of 'stream' and 'response' keep repeated fields in order with lower-case names; sentHeaders keeps the keys given; a 'DATE' key collides with the date added (ERR_HTTP2_HEADER_SINGLE_VALUE) unless sendDate is off", function()
    H.run(function()
      local server = http2.createServer()
      local server_raw, sent, date_code, date_err
      server:on("stream", function(st, _, _, raw)
        server_raw = raw
        date_code, date_err = H.raised(st.respond, st, { [":status"] = 404, DATE = "0000" })
        st:respond({ [":status"] = 404, x = { "1", "2" }, ["x-FOO"] = "bar", DATE = "0000" },
          { sendDate = false })
        sent = st.sentHeaders
        st:finish()
      end)
      local port = H.listen(server)
      local client = H.connect(port)
      local authority = "test.invalid:" .. port
      local req = client:request({ [":path"] = "/foobar", [":scheme"] = "http",
        [":authority"] = authority, [":method"] = "POST", a = { "b", "c" }, ["x-FOO"] = "bar" })
      req:finish()
      assert.same({ "b", "c" }, req.sentHeaders.a)
      assert.equal("bar", req.sentHeaders["x-FOO"])
      local _, _, client_raw = req:wait("response", 5000)
      assert.truthy(client_raw, "no rawHeaders on 'response'")
      local function pairs_of(raw)
        local list = {}
        for i = 1, #raw, 2 do list[#list + 1] = raw[i] .. "=" .. raw[i + 1] end
        return table.concat(list, " ")
      end
      -- the request's fields as they came: pseudo-headers first, the two
      -- 'a' in order, names lower-cased
      assert.equal(":method=POST :authority=" .. authority .. " :scheme=http :path=/foobar",
        pairs_of({ table.unpack(server_raw, 1, 8) }))
      local rest = pairs_of({ table.unpack(server_raw, 9) })
      assert.truthy(rest:find("a=b a=c", 1, true), rest)
      assert.truthy(rest:find("x-foo=bar", 1, true), rest)
      assert.equal(14, #server_raw)
      -- the response's: ':status' first, the two 'x' in order, one date
      local got = pairs_of(client_raw)
      assert.equal(":status=404", got:match("^%S+"))
      assert.truthy(got:find("x=1 x=2", 1, true), got)
      assert.truthy(got:find("x-foo=bar", 1, true), got)
      assert.truthy(got:find("date=0000", 1, true), got)
      assert.equal(10, #client_raw)
      assert.equal("ERR_HTTP2_HEADER_SINGLE_VALUE", date_code)
      assert.equal('Header field "date" must only have a single value', date_err.message)
      assert.equal(404, sent[":status"])
      assert.same({ "1", "2" }, sent.x)
      assert.equal("bar", sent["x-FOO"])
      assert.equal("0000", sent.DATE)
      client:close()
      server:close()
    end)
  end)

  it("raw-headers-defaults.js (v18 part): a request of regular fields only: the server's rawHeaders start with the defaults (:method GET, :authority, :scheme http, :path /), sentHeaders has them; the response gets :status 200 and a date", function()
    H.run(function()
      local server = http2.createServer()
      local server_raw, sent
      server:on("stream", function(st, _, _, raw)
        server_raw = raw
        st:respond({ x = { "1", "2" }, ["x-FOO"] = "bar" })
        sent = st.sentHeaders
        st:finish()
      end)
      local port = H.listen(server)
      local client = H.connect(port)
      local req = client:request({ a = { "b", "c" }, ["x-FOO"] = "bar" })
      req:finish()
      local authority = "127.0.0.1:" .. port
      assert.equal("/", req.sentHeaders[":path"])
      assert.equal("http", req.sentHeaders[":scheme"])
      assert.equal(authority, req.sentHeaders[":authority"])
      assert.equal("GET", req.sentHeaders[":method"])
      assert.same({ "b", "c" }, req.sentHeaders.a)
      local _, _, client_raw = req:wait("response", 5000)
      assert.truthy(client_raw, "no rawHeaders on 'response'")
      assert.same({ ":method", "GET", ":authority", authority, ":scheme", "http", ":path", "/" },
        { table.unpack(server_raw, 1, 8) })
      assert.equal(14, #server_raw)
      assert.equal(200, sent[":status"])
      assert.equal("string", type(sent.date))
      assert.same({ "1", "2" }, sent.x)
      assert.equal(":status", client_raw[1])
      assert.equal("200", client_raw[2])
      assert.equal(10, #client_raw)
      local dates = 0
      for i = 3, #client_raw, 2 do
        if client_raw[i] == "date" then
          dates = dates + 1
          assert.equal(sent.date, client_raw[i + 1])
        end
      end
      assert.equal(1, dates)
      client:close()
      server:close()
    end)
  end)

  it("server-rfc-9113-server.js (v18 part): request fields whose values start or end with a space or a tab are left out (nghttp2 finds them invalid), the request itself is served", function()
    H.run(function()
      local server = http2.createServer(function(req, res)
        res:writeHead(200)
        res:finish(table.concat({ tostring(req.headers.foobar), tostring(req.headers["x-powered-by"]),
          tostring(req.headers["x-h2-header"]), tostring(req.headers["x-h2-header-2"]),
          tostring(req.headers["x-h2-header-3"]), tostring(req.headers["x-h2-header-4"]),
          tostring(req.headers["x-fine"]) }, ","))
      end)
      local port = H.listen(server)
      local client = H.connect(port)
      local req = client:request({ [":path"] = "/", foobar = "baz ", ["x-powered-by"] = "node-test\t",
        ["x-h2-header"] = "\tconnection-test", ["x-h2-header-2"] = " connection-test",
        ["x-h2-header-3"] = "connection-test ", ["x-h2-header-4"] = "connection-test\t",
        ["x-fine"] = "in the middle is fine" })
      req:on("error", function() end)
      req:finish()
      local h = req:wait("response", 5000)
      assert.truthy(h, "no response")
      assert.equal(200, h[":status"])
      assert.equal("nil,nil,nil,nil,nil,nil,in the middle is fine", req:readAll())
      client:close()
      server:close()
    end)
  end)

  it("internet/issue-32922.js: (here a TLS server on 127.0.0.1, not google.com) https sessions made plainly, with an unknown option (socket2), and over a TCP socket given as `socket` (connected, and still connecting) each get their response; the `socket` ones run over that very socket", function()
    local pki = H.pki()
    pki.make()
    H.run(function()
      local server = http2.createSecureServer({ key = pki.key("server"), cert = pki.pem("server") })
      local peer_ports = {}
      server:on("session", function(s) peer_ports[#peer_ports + 1] = s.socket.remotePort end)
      server:on("stream", function(st) st:respond() st:finish("hello") end)
      local port = H.listen(server)
      local url = "https://localhost:" .. port
      local function get(options)
        options.rejectUnauthorized = false
        local client = http2.connect(url, options)
        local err
        client:on("error", function(e) err = e end)
        local req = client:request({ [":path"] = "/" })
        req:on("error", function(e) err = e end)
        local body = req:readAll()
        assert.is_nil(err)
        assert.equal("hello", body)
        client:close()
        return client
      end
      get({})
      get({ socket2 = h2lua.net.connect(port, "127.0.0.1") })
      local connected = h2lua.net.connect(port, "127.0.0.1")
      assert(connected:wait("connect", 5000))
      get({ socket = connected })
      local connecting = h2lua.net.connect(port, "127.0.0.1")
      get({ socket = connecting })
      -- the plain session, the one that ignored socket2, then one per
      -- given socket, over that socket
      assert.is_true(H.wait_until(function() return #peer_ports == 4 end, 5000), #peer_ports .. " sessions")
      assert.equal(connected.localPort, peer_ports[3])
      assert.equal(connecting.localPort, peer_ports[4])
      server:close()
    end)
    pki.remove()
  end)

  it("sequential/large-file.js: a 100 MB upload in 1 MB writes, each after the last one's callback, with a 6 553 500-byte initial window on both sides: the request closes", function()
    H.run(function()
      local server = http2.createServer({ settings = { initialWindowSize = 6553500 } })
      local received, ended = 0, false
      server:on("stream", function(st)
        st:on("data", function(c) received = received + #c end)
        st:on("end", function() ended = true end)
        st:respond()
        st:finish("ok")
      end)
      local port = H.listen(server)
      local client = H.connect(port, { settings = { initialWindowSize = 6553500 } })
      assert(client:wait("connect", 5000))
      local req = client:request({ [":method"] = "POST" })
      local chunk = string.rep("a", 1000000)
      local remaining = 100000000
      local function write_chunk()
        if remaining > 0 then
          remaining = remaining - #chunk
          req:write(chunk, write_chunk)
        else
          req:finish()
        end
      end
      write_chunk()
      local closed, code = false, nil
      req:on("close", function() closed = true code = req.rstCode end)
      req:resume()
      assert.is_true(H.wait_until(function() return closed end, 60000), "the request never closed")
      assert.equal(0, remaining)
      assert.equal(http2.constants.NGHTTP2_NO_ERROR, code)
      -- the client's stream closes once its last DATA is written; the
      -- server reads it after that (under ASan 12 KB were still on the
      -- way): the count is checked at the server stream's 'end'
      assert.is_true(H.wait_until(function() return ended end, 30000), "the server's stream never ended")
      assert.equal(100000000, received)
      client:close()
      server:close()
    end, 90000)
  end)

  it("sequential/max-session-memory.js: maxSessionMemory 1 and a 2 MB response in flight: the next request fails with ERR_HTTP2_STREAM_ERROR (ENHANCE_YOUR_CALM)", function()
    H.run(function()
      local server = http2.createServer({ maxSessionMemory = 1 })
      local stream_errors = 0
      server:on("stream", function(st)
        st:on("error", function() stream_errors = stream_errors + 1 end)
        st:respond()
        st:finish(string.rep("\0", 2000000))
      end)
      local port = H.listen(server)
      local client = H.connect(port)
      local first = client:request()
      local second_err, second_closed, first_closed = nil, false, false
      first:on("response", function()
        local second = client:request()
        second:on("error", function(e) second_err = e end)
        second:on("close", function() second_closed = true end)
      end)
      first:on("close", function() first_closed = true end)
      first:resume()
      assert.is_true(H.wait_until(function() return second_closed end, 10000), "the second request never closed")
      assert.truthy(second_err, "no 'error' on the second request")
      assert.equal("ERR_HTTP2_STREAM_ERROR", second_err.code)
      assert.equal("Stream closed with error code NGHTTP2_ENHANCE_YOUR_CALM", second_err.message)
      client:destroy()
      assert.is_true(H.wait_until(function() return first_closed end, 5000))
      assert.equal(0, stream_errors)
      server:close()
    end)
  end)

  it("sequential/ping-flood.js: 35 000 PINGs from a peer that never reads: the session's 'error' is ERR_HTTP2_ERROR (flooding), then 'close'", function()
    flood(frame(6, 0, 0, "\0\0\0\0\0\0\0\0"), true)
  end)

  it("sequential/settings-flood.js: 35 000 SETTINGS from a peer that never reads: the session's 'error' is ERR_HTTP2_ERROR (flooding), then 'close'", function()
    flood(frame(4, 0, 0, ""), false)
  end)

  it("sequential/timeout-large-write.js: a 3 MB write over TLS to a client reading in paused rounds: no server or stream timeout while the client is paused, all 3 MB arrive", function()
    timeout_large_write(function(st, on_timeout)
      local content = string.rep("D", WRITE_SIZE)
      st:respond({ ["content-type"] = "application/octet-stream",
        ["content-length"] = tostring(#content), ["vary"] = "Accept-Encoding" })
      st:write(content)
      st:setTimeout(TIMEOUT)
      st:on("timeout", on_timeout)
      st:finish()
    end)
  end)

  it("sequential/timeout-large-write-file.js: the same with a 3 MB file through respondWithFD", function()
    local path = os.tmpname()
    H.writefile(path, string.rep("D", WRITE_SIZE))
    local fd = assert(io.open(path, "rb"))
    timeout_large_write(function(st)
      st:respondWithFD(fd, { ["content-type"] = "application/octet-stream",
        ["content-length"] = tostring(WRITE_SIZE), ["vary"] = "Accept-Encoding" })
      st:finish()
    end)
    fd:close()
    os.remove(path)
  end)
end)
