-- The frame trace (--trace, H2LUA_TRACE) against what nghttp -v and
-- nghttpd -v print for the same exchange, and the session 'frame' event.
local H = require "helper"
local http2 = require "http2"

-- The frames of a trace in `nghttp -v` shape (ours, nghttp's, nghttpd's):
-- direction, type, flags, length, stream id and the settings, in order.
local function frames(text)
  local out, cur = {}, nil
  for line in (text .. "\n"):gmatch("(.-)\n") do
    line = line:gsub("\27%[[%d;]*m", "")
    local dir, ty, len, fl, id = line:match("(%a+) (%u[%u_]*) frame <length=(%d+), flags=0x(%x+), stream_id=(%d+)>")
    if dir == "send" or dir == "recv" then
      cur = { dir = dir, type = ty, length = tonumber(len), flags = tonumber(fl, 16),
        id = tonumber(id), settings = "" }
      out[#out + 1] = cur
    end
    if cur then
      for name, v in line:gmatch("%[(SETTINGS_[%u_]+)%(0x%x+%):(%d+)%]") do
        cur.settings = cur.settings .. name .. "=" .. v .. " "
      end
    end
  end
  return out
end

local function key(f)
  return ("%s flags=0x%02x length=%d stream=%d %s"):format(f.type, f.flags, f.length, f.id, f.settings)
end

-- The frames going |dir|, as keys, up to the first GOAWAY included (what
-- follows a GOAWAY may be cut short by the close).
local function seq(list, dir)
  local out = {}
  for _, f in ipairs(list) do
    if f.dir == dir then
      out[#out + 1] = key(f)
      if f.type == "GOAWAY" then break end
    end
  end
  return out
end

local function run(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

local function wait_file(path, pattern)
  for _ = 1, 250 do
    local s = H.readfile(path) or ""
    if s:find(pattern) then return s end
    os.execute("sleep 0.02")
  end
  return H.readfile(path) or ""
end

local function tmpfile(content)
  local path = os.tmpname()
  H.writefile(path, content)
  return path
end

describe("frame trace", function()
  it("h2lua --trace prints the frames nghttp -v shows, both ways, in order (a POST with a body)", function()
    local port = assert(tonumber(run([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']])))
    local proc = H.start(nil, "--trace examples/echo.lua " .. port)
    assert.truthy(H.wait_output(proc, "listening on"))
    local body = tmpfile(H.bytes(100000))
    local ng = run(("nghttp -v -d %s http://127.0.0.1:%d/echo"):format(body, port))
    os.remove(body)
    local trace = wait_file(proc.base .. ".err", "recv GOAWAY")
    H.stop(proc)
    local theirs, ours = frames(ng), frames(trace)
    assert.is_true(#theirs >= 6)
    -- what nghttp sent is what the server received, frame for frame
    assert.same(seq(theirs, "send"), seq(ours, "recv"))
    -- what nghttp received is what the server sent (nghttp closes before
    -- reading the server's answering GOAWAY)
    local sent = seq(ours, "send")
    local got = seq(theirs, "recv")
    assert.same(got, { table.unpack(sent, 1, #got) })
    assert.is_true(#sent <= #got + 1)
    -- the request carried DATA, the server gave windows back and echoed it
    assert.truthy(trace:find("recv DATA frame <length=16384, flags=0x00, stream_id=13>", 1, true))
    assert.truthy(trace:find("send WINDOW_UPDATE frame <length=4, flags=0x00, stream_id=0> (windowSizeIncrement=", 1, true))
    assert.truthy(trace:find("[SETTINGS_INITIAL_WINDOW_SIZE(0x04):65535]", 1, true))
    assert.truthy(trace:match("server#%d+ recv HEADERS frame <[^\n]*END_STREAM") == nil) -- a body follows
    -- the fields, with what HPACK says of them
    assert.truthy(trace:find("\n          :method: POST  ; static table", 1, true))
    assert.truthy(trace:find("\n          :path: /echo  ; static name", 1, true))
    assert.truthy(trace:find("\n          :status: 200", 1, true))
    assert.truthy(trace:find("errorCode=NO_ERROR(0x00)", 1, true))
    assert.falsy(trace:find("\27[", 1, true)) -- not a terminal: no colour
  end)

  it("H2LUA_TRACE=1 traces a client session as nghttpd -v sees it; =color colours", function()
    local port = assert(tonumber(run([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']])))
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    H.writefile(dir .. "/index.html", "hello from nghttpd\n")
    local ngout = os.tmpname()
    os.execute(("stdbuf -oL nghttpd -v -d %s --no-tls %d > %s 2>&1 & echo $! > %s.pid"):format(dir, port, ngout, ngout))
    local pid = tonumber(H.readfile(ngout .. ".pid"))
    for _ = 1, 200 do
      if os.execute("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. port .. "' 2>/dev/null") == true then break end
      os.execute("sleep 0.02")
    end
    local client = tmpfile(([[
      local http2 = require "http2"
      local c = http2.connect("http://127.0.0.1:%d")
      local r = c:request({ [":path"] = "/index.html" })
      local body = {}
      r:on("data", function(d) body[#body + 1] = d end)
      r:on("end", function() io.stdout:write(table.concat(body)) c:close() end)
    ]]):format(port))
    local p = io.popen("H2LUA_TRACE=color " .. H.BIN .. " " .. client .. " 2>" .. client .. ".err")
    local out = p:read("a")
    p:close()
    local trace = H.readfile(client .. ".err") or ""
    local ng = wait_file(ngout, "recv GOAWAY")
    os.execute("kill " .. pid)
    os.execute("rm -rf " .. dir .. " " .. ngout .. " " .. ngout .. ".pid " .. client .. " " .. client .. ".err")
    assert.equal("hello from nghttpd\n", out)
    assert.truthy(trace:find("\27[", 1, true)) -- coloured on request
    -- nghttpd numbers its connections: the probe above was one
    local id = assert(ng:match("%[id=(%d+)%] [^\n]*recv HEADERS"))
    local mine, keep = {}, false
    for line in ng:gmatch("[^\n]+") do
      local n = line:match("^%[id=(%d+)%]")
      if n then keep = n == id end
      if keep then mine[#mine + 1] = line end
    end
    local theirs, ours = frames(table.concat(mine, "\n")), frames(trace)
    assert.is_true(#ours >= 5)
    assert.truthy(trace:find("client#1", 1, true))
    -- nghttpd stops printing once the response is out (the client's ACK
    -- and GOAWAY that follow are not shown): what it shows is the start of
    -- what the client sent, and what the client got is what it sent
    local sent, shown = seq(ours, "send"), seq(theirs, "recv")
    assert.is_true(#shown >= 2)
    assert.same(shown, { table.unpack(sent, 1, #shown) })
    local got = seq(ours, "recv")
    assert.same(got, { table.unpack(seq(theirs, "send"), 1, #got) })
    assert.is_true(#got >= 4)
  end)

  it("a frame nghttp2 refuses shows as 'recv invalid' with its reason, then the GOAWAY answering it", function()
    local port = assert(tonumber(run([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']])))
    local proc = H.start(nil, "--trace examples/hello.lua " .. port)
    assert.truthy(H.wait_output(proc, "listening on"))
    -- a zero increment on the connection (on stream 1 it raced the
    -- response: once the stream had closed, nghttp2 ignored it)
    local raw = run(("%s %s/h2raw.py %d 'preface; settings; headers 1; window 0 0; wait 10'"):format(H.PY, H.CLIENTS, port))
    local trace = wait_file(proc.base .. ".err", "send GOAWAY")
    H.stop(proc)
    assert.truthy(raw:find("GOAWAY", 1, true), raw)
    assert.truthy(trace:find("server#1 recv invalid WINDOW_UPDATE frame <length=4, flags=0x00, stream_id=0> ; Protocol error", 1, true), trace)
    assert.truthy(trace:find("send GOAWAY frame <length=49, flags=0x00, stream_id=0> (lastStreamId=1, errorCode=PROTOCOL_ERROR(0x01), opaqueData=\"WINDOW_UPDATE: window_size_increment == 0\")", 1, true), trace)
  end)

  -- nghttp2 drops some frames after their header without a callback: a
  -- WINDOW_UPDATE on a stream already closed is one (a client's last one,
  -- racing its stream's end: the first test above met it under load).
  -- The trace still shows it, as received and ignored, in its place. (A
  -- frame of an unknown type nghttp2 skips before any callback: it shows
  -- nowhere.)
  it("a frame nghttp2 drops silently (WINDOW_UPDATE on a closed stream) shows as received and ignored, in order, on stderr and as a 'frame' event", function()
    local port = assert(tonumber(run([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']])))
    local proc = H.start(nil, "--trace examples/hello.lua " .. port)
    assert.truthy(H.wait_output(proc, "listening on"))
    local raw = run(("%s %s/h2raw.py %d 'preface; settings; headers 1 end; until DATA 1 1 10; window 1 100; frame 250 0 0 00ff; ping abcdefgh; until PING 0 1 10'"):format(H.PY, H.CLIENTS, port))
    local trace = wait_file(proc.base .. ".err", "recv PING")
    H.stop(proc)
    assert.truthy(raw:find("HEADERS stream=1", 1, true), raw)
    assert.truthy(raw:find("PING stream=0 flags=1", 1, true), raw) -- the session went on
    local wu = trace:find("server#1 recv WINDOW_UPDATE frame <length=4, flags=0x00, stream_id=1> ; ignored by nghttp2\n", 1, true)
    local ping = trace:find("server#1 recv PING frame <length=8, flags=0x00, stream_id=0>", 1, true)
    assert.truthy(wu and ping, trace)
    assert.is_true(wu < ping, trace)
    assert.falsy(trace:find("CONTINUATION", 1, true)) -- no block is split here
    -- the same as 'frame' events
    H.run(function()
      local server = http2.createServer()
      local seen = {}
      server:on("session", function(session)
        session:on("frame", function(f)
          if f.direction == "recv" then seen[#seen + 1] = f end
        end)
      end)
      server:on("stream", function(stream)
        stream:respond({ [":status"] = 200 })
        stream:finish("ok")
      end)
      local p = H.listen(server)
      local rc, out = H.raw(p, "preface; settings; headers 1 end; until DATA 1 1 10; window 1 100; frame 250 0 0 00ff; ping abcdefgh; until PING 0 1 10")
      assert.equal(0, rc, out)
      server:close()
      local got = {}
      for _, f in ipairs(seen) do
        got[#got + 1] = f.type .. "/" .. f.streamId .. (f.ignored and "/ignored" or "")
      end
      local list = table.concat(got, " ")
      assert.truthy(list:find("HEADERS/1 WINDOW_UPDATE/1/ignored PING/0", 1, true), list)
      for _, f in ipairs(seen) do
        if f.ignored then assert.same({}, f.fields) end -- only the header is known
      end
    end)
  end)

  it("a server session's 'frame' listener, added in 'session', sees the connection's first read (SETTINGS, the first HEADERS); hpackTableGrowth is per frame", function()
    H.run(function()
      local server = http2.createServer()
      local seen = {}
      server:on("session", function(session)
        session:on("frame", function(f) seen[#seen + 1] = f end)
      end)
      server:on("stream", function(stream)
        stream:respond({ [":status"] = 200 })
        stream:finish("ok")
      end)
      local port = H.listen(server)
      -- nghttp writes its preface, SETTINGS and both requests (on one
      -- connection) at once
      local rc, out, err = H.sh("nghttp -n " .. H.url(port) .. "/a " .. H.url(port) .. "/b")
      assert.equal(0, rc, (out or "") .. (err or ""))
      assert.truthy(H.wait_until(function() return #seen >= 6 end, 5000))
      server:close()
      local recv = {}
      for _, f in ipairs(seen) do
        if f.direction == "recv" then recv[#recv + 1] = f end
      end
      assert.equal("SETTINGS", recv[1].type)
      assert.equal(0, recv[1].flags)
      local heads = {}
      for _, f in ipairs(recv) do
        if f.type == "HEADERS" then heads[#heads + 1] = f end
      end
      assert.equal(2, #heads)
      assert.is_true(heads[2].streamId > heads[1].streamId) -- nghttp's first request is stream 13
      local path
      for _, hf in ipairs(heads[1].fields.headers) do
        if hf.name == ":path" then path = hf.value end
      end
      assert.equal("/a", path)
      -- the first request filled the table; the second's growth is what
      -- it added, not the whole table
      local first, second = heads[1].fields, heads[2].fields
      assert.is_true(first.hpackTableSize > 0)
      assert.equal(first.hpackTableSize, first.hpackTableGrowth)
      assert.is_true(second.hpackTableSize >= first.hpackTableSize)
      assert.equal(second.hpackTableSize - first.hpackTableSize, second.hpackTableGrowth)
    end)
  end)

  it("the 'frame' event describes each frame with its fields; stream.state.stateName", function()
    H.run(function()
      local server = http2.createServer()
      local seen = { server = {}, client = {} }
      local state_names = {}
      server:on("session", function(session)
        session:on("frame", function(f) table.insert(seen.server, f) end)
      end)
      server:on("stream", function(stream, headers)
        state_names[#state_names + 1] = stream.state.stateName
        stream:respond({ [":status"] = 200 })
        stream:finish("ok")
      end)
      local port = H.listen(server)
      local client = http2.connect("http://127.0.0.1:" .. port)
      client:on("frame", function(f) table.insert(seen.client, f) end)
      client:wait("connect", 5000)
      local pinged = false
      client:ping("abcdefgh", function() pinged = true end)
      assert.is_true(H.wait_until(function() return pinged end, 5000))
      local req = client:request({ [":path"] = "/x", authorization = "secret",
        [http2.sensitiveHeaders] = { "authorization" } })
      state_names[#state_names + 1] = req.state.stateName
      req:resume()
      req:wait("close", 5000)
      local bad = client:request({ [":path"] = "/reset" })
      bad:close(http2.constants.NGHTTP2_CANCEL)
      bad:wait("close", 5000)
      client:close()
      client:wait("close", 5000)
      server:close()
      local function find(list, dir, ty, pred)
        for _, f in ipairs(list) do
          if f.direction == dir and f.type == ty and (pred == nil or pred(f)) then return f end
        end
      end
      -- SETTINGS by name, as the client sent them and the server got them
      local s = assert(find(seen.client, "recv", "SETTINGS", function(f) return f.flags == 0 end))
      assert.equal(0, s.streamId)
      assert.equal(4, s.typeCode)
      assert.equal("SETTINGS_MAX_CONCURRENT_STREAMS", s.fields.settings[1].name)
      assert.equal(3, s.fields.settings[1].id)
      local ack = assert(find(seen.client, "send", "SETTINGS", function(f) return f.flags == 1 end))
      assert.same({ "ACK" }, ack.flagNames)
      assert.equal(0, ack.length)
      -- PING and its ACK with the payload
      local ping = assert(find(seen.client, "send", "PING"))
      assert.equal("abcdefgh", ping.fields.opaqueData) -- the bytes (the line prints them in hex)
      assert.truthy(find(seen.client, "recv", "PING", function(f) return f.flags == 1 end))
      -- the request's HEADERS on the server: fields, never-indexed noted
      local h = assert(find(seen.server, "recv", "HEADERS", function(f) return f.streamId == 1 end))
      assert.same({ "END_STREAM", "END_HEADERS" }, h.flagNames)
      assert.equal("request", h.fields.category)
      assert.is_true(h.fields.hpackTableSize >= 0)
      local byname = {}
      for _, hf in ipairs(h.fields.headers) do byname[hf.name] = hf end
      assert.equal("/x", byname[":path"].value)
      assert.is_true(byname[":path"].staticName)
      assert.is_true(byname[":method"].staticTable)
      assert.is_true(byname.authorization.neverIndexed)
      assert.is_false(byname[":path"].neverIndexed)
      -- the response and its DATA, on the client
      local resp = assert(find(seen.client, "recv", "HEADERS", function(f) return f.streamId == 1 end))
      assert.equal(":status", resp.fields.headers[1].name)
      assert.equal("200", resp.fields.headers[1].value)
      local data = assert(find(seen.client, "recv", "DATA", function(f) return f.streamId == 1 end))
      assert.equal(2, data.length)
      assert.same({ "END_STREAM" }, data.flagNames)
      -- RST_STREAM with its code by name
      local rst = assert(find(seen.client, "send", "RST_STREAM"))
      assert.equal(http2.constants.NGHTTP2_CANCEL, rst.fields.errorCode)
      assert.equal("CANCEL", rst.fields.errorName)
      -- GOAWAY: last stream id and code
      local ga = assert(find(seen.client, "send", "GOAWAY"))
      assert.equal(0, ga.fields.lastStreamId)
      assert.equal("NO_ERROR", ga.fields.errorName)
      local sga = assert(find(seen.server, "recv", "GOAWAY"))
      assert.equal(8, sga.length)
      -- states by name: the server saw its stream half-closed (remote) (the
      -- request had END_STREAM), the client had not sent its request yet
      assert.same({ "idle", "half-closed (remote)" }, { state_names[1], state_names[2] })
    end)
  end)
end)
