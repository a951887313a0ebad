-- WebSocket (h2lua.websocket): the handshake, messages, fragments,
-- ping/pong and close codes over RFC 8441 (HTTP/2 extended CONNECT) and
-- over HTTP/1.1 Upgrade, against t/clients/ws_raw.py (raw frames),
-- python3-websockets (a client library) and headless Chromium opening
-- examples/websocket.lua's page over h2 and over HTTP/1.1.
local H = require "helper"
local http2 = require "http2"
local websocket = require "h2lua.websocket"

local CHROMIUM = "/usr/bin/chromium"

-- The server side of ws_raw.py's scenarios; |seen| gets "path code" for
-- each 'close' the server's sockets emit.
local function app(a, b, seen)
  local headers = b.writeHead and a.headers or b
  local path = headers[":path"]
  if path == "/plain" then -- a handler that knows nothing of WebSocket
    if b.writeHead then b:writeHead(200); b:finish("no websocket here") else
      a:respond({ [":status"] = 200 }); a:finish("no websocket here") end
    return
  end
  if path == "/refuse" then
    if b.writeHead then b:writeHead(403); b:finish("go away") else
      a:respond({ [":status"] = 403 }); a:finish("go away") end
    return
  end
  local opts = { protocols = { "superchat", "chat" } }
  if path == "/small" or path == "/lazybytes" then opts.maxPayload = 1000 end
  if path == "/frag" then opts.fragmentSize = 4 end
  local ws, why = websocket.accept(a, b, opts)
  if not ws then
    seen[#seen + 1] = path .. " refused " .. why
    return
  end
  ws:on("close", function(code) seen[#seen + 1] = path .. " " .. code end)
  if path == "/bye" then
    ws:send("soon")
    ws:close(4000, "done")
  elseif path == "/boom" then
    ws:on("message", function() error("boom (a test's deliberate error)") end)
    return
  elseif path == "/lazy" or path == "/lazybytes" then
    -- nobody receives for a while: at most 16 messages (or maxPayload
    -- bytes: 3 of 400) wait, the rest stays unread; then all come, in order
    local cap = path == "/lazy" and 16 or 3
    local function queued() return ws._qtail - ws._qhead + 1 end
    for _ = 1, 300 do -- until the cap is reached (bounded), then a while more
      if queued() >= cap then break end
      require("h2lua").sleep(10)
    end
    require("h2lua").sleep(100)
    local queued = queued()
    local n, in_order, want = 0, true, path == "/lazy" and 200 or 10
    while n < want do
      local data = ws:receive(5000)
      if not data then break end
      n = n + 1
      if data:match("^m%d+") ~= "m" .. n then in_order = false end
    end
    ws:send(("got %d queued %d in order %s"):format(n, queued, in_order))
  elseif path == "/events" then -- listeners instead of receive()
    ws:on("message", function(data, binary)
      if data == "parts" then return ws:send({ "p1", "p2", "p3" }) end
      ws:send("message " .. data .. " " .. tostring(binary))
    end)
    ws:on("ping", function(data) ws:send("ping event " .. data) end)
    return
  elseif path == "/ping" then
    ws:on("pong", function(d) ws:send("got pong " .. d) end)
    ws:ping("hi")
  end
  while true do
    local data, kind = ws:receive()
    if not data then break end
    ws:send(data, kind == "binary")
  end
end

-- The scenarios' output, section by section.
local function sections(out)
  local s, cur = {}, nil
  for line in out:gmatch("[^\n]+") do
    local name = line:match("^== (%S+)")
    if name then
      cur = {}
      s[name] = cur
    elseif cur then
      cur[#cur + 1] = line
    end
  end
  for k, v in pairs(s) do s[k] = table.concat(v, "\n") end
  return s
end

local SCENARIOS = "echo frag serverfrag unmasked badutf8 toobig toobigfrag badclose rsv " ..
  "bigping orphan interleaved badreason nocode serverclose boom serverping vanish flood floodbytes events badversion"

-- What every protocol must show for the scenarios (|h2|: RFC 8441).
local function check(s, seen, h2)
  local ok_hs = h2 and "HANDSHAKE 200 protocol=superchat" or "HANDSHAKE 101 accept-ok protocol=superchat"
  assert.truthy(s.echo:find(ok_hs, 1, true), s.echo)
  if h2 then assert.truthy(s.echo:find("SETTINGS 8=1", 1, true), s.echo) end
  -- text and binary come back as sent, unmasked, the big one whole
  assert.truthy(s.echo:find("MSG text 'héllo ☃' len=10", 1, true), s.echo)
  assert.truthy(s.echo:find("MSG binary b'\\x00\\x01\\x02\\xff' len=4", 1, true), s.echo)
  assert.truthy(s.echo:find("MSG binary b'yyyy", 1, true) and s.echo:find("len=70000", 1, true), s.echo)
  assert.falsy(s.echo:find("masked=1", 1, true), s.echo)
  assert.truthy(s.echo:find("CLOSE 1000", 1, true), s.echo)
  -- fragments joined (a character split between two), the ping between
  -- them answered with its payload first
  local pong = s.frag:find("PONG in between", 1, true)
  local msg = s.frag:find("MSG text 'ab☃cd' len=7", 1, true)
  assert.truthy(pong and msg and pong < msg, s.frag)
  -- fragmented sending: 10 bytes in fragments of 4
  assert.truthy(s.serverfrag:find("FRAME op=1 fin=0 masked=0 len=4 data=b'0123'\n" ..
    "FRAME op=0 fin=0 masked=0 len=4 data=b'4567'\nFRAME op=0 fin=1 masked=0 len=2 data=b'89'", 1, true), s.serverfrag)
  assert.truthy(s.serverfrag:find("MSG text '0123456789'", 1, true), s.serverfrag)
  -- protocol errors: the close code the RFC gives, then the end
  assert.truthy(s.unmasked:find("CLOSE 1002 unmasked client frame", 1, true), s.unmasked)
  assert.truthy(s.badutf8:find("CLOSE 1007", 1, true), s.badutf8)
  assert.truthy(s.toobig:find("CLOSE 1009", 1, true), s.toobig)
  assert.truthy(s.toobigfrag:find("CLOSE 1009", 1, true), s.toobigfrag)
  assert.truthy(s.badclose:find("CLOSE 1002 invalid close code", 1, true), s.badclose)
  assert.truthy(s.rsv:find("CLOSE 1002 reserved bits set", 1, true), s.rsv)
  assert.truthy(s.badreason:find("CLOSE 1007 close reason not UTF-8", 1, true), s.badreason)
  -- a close without a code is answered without one (the server sees 1005)
  assert.truthy(s.nocode:find("FRAME op=8 fin=1 masked=0 len=0", 1, true), s.nocode)
  assert.truthy(s.bigping:find("CLOSE 1002 bad control frame", 1, true), s.bigping)
  assert.truthy(s.orphan:find("CLOSE 1002 continuation without a message", 1, true), s.orphan)
  assert.truthy(s.interleaved:find("CLOSE 1002 new message inside a fragmented one", 1, true), s.interleaved)
  for _, name in ipairs({ "unmasked", "badutf8", "toobig", "badclose", "rsv" }) do
    -- nothing was delivered, and the transport ends (h2: its END_STREAM)
    assert.falsy(s[name]:find("MSG", 1, true), s[name])
    assert.truthy(s[name]:find(h2 and "END_STREAM" or "EOF", 1, true), s[name])
  end
  -- the server closes: its frame after its last message, our answer ends it
  assert.truthy(s.serverclose:find("MSG text 'soon'.*CLOSE 4000 done"), s.serverclose)
  -- a handler's error: 1011
  assert.truthy(s.boom:find("CLOSE 1011", 1, true), s.boom)
  -- the server's ping, our pong seen by its 'pong' listener
  assert.truthy(s.serverping:find("PING hi.*MSG text 'got pong hi'"), s.serverping)
  assert.truthy(s.vanish:find("MSG text 'then gone'", 1, true), s.vanish)
  assert.truthy(s.flood:find("MSG text 'got 200 queued 16 in order true'", 1, true), s.flood)
  -- events: 'message' (with the binary flag), 'ping' after the auto pong,
  -- a message sent as a list of fragments
  assert.truthy(s.events:find("MSG text 'message a false'.*PONG x.*MSG text 'ping event x'.*" ..
    "FRAME op=1 fin=0 masked=0 len=2 data=b'p1'\nFRAME op=0 fin=0 masked=0 len=2 data=b'p2'\n" ..
    "FRAME op=0 fin=1 masked=0 len=2 data=b'p3'\nMSG text 'p1p2p3'"), s.events)
  assert.truthy(s.floodbytes:find("MSG text 'got 10 queued 3 in order true'", 1, true), s.floodbytes)
  local want = { "/ws 1000", "/small 1009", "/ws 1002", "/ws 1007", "/bye 4000", "/boom 1011", "/ping 1000",
    "/ws 1006", "/lazy 1000", "/events 1000", "/ws 1005" }
  local got = table.concat(seen, ",")
  for _, w in ipairs(want) do assert.truthy(got:find(w, 1, true), got) end
end

local function raw(mode, port)
  local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/ws_raw.py " .. mode .. " " .. port .. " " .. SCENARIOS, 60)
  assert.equal(0, rc, err .. out)
  return sections(out)
end

describe("h2lua.websocket", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("speaks RFC 6455 over HTTP/1.1 Upgrade to raw frames: fragments, ping, close codes, masking", function()
    H.run(function()
      local seen = {}
      local server = http2.createServer({ allowHTTP1 = true }, function(req, res) app(req, res, seen) end)
      local port = H.listen(server)
      local s = raw("h1", port)
      assert.truthy(H.wait_until(function() return #seen >= 21 end, 6000), table.concat(seen, ","))
      check(s, seen, false)
      -- another version: 426 naming ours; handlers that refuse or know
      -- nothing of WebSocket answer as usual and the connection closes
      assert.truthy(s.badversion:find("HANDSHAKE 426", 1, true), s.badversion)
      local _, out = H.sh(H.PY .. " " .. H.CLIENTS .. "/ws_raw.py h1 " .. port ..
        " plain refuse noconnection http10 badkey", 20)
      local o = sections(out)
      assert.truthy(o.plain:find("HANDSHAKE 200.*no websocket here.*EOF"), o.plain)
      assert.truthy(o.refuse:find("HANDSHAKE 403.*go away.*EOF"), o.refuse)
      -- what is no upgrade for the HTTP/1.1 layer is none for accept()
      assert.truthy(o.noconnection:find("HANDSHAKE 400.*not a WebSocket upgrade"), o.noconnection)
      assert.truthy(o.http10:find("HANDSHAKE 400.*not a WebSocket upgrade"), o.http10)
      assert.truthy(o.badkey:find("HANDSHAKE 400.*bad Sec%-WebSocket%-Key"), o.badkey)
      server:close()
    end, 90000)
  end)

  it("speaks RFC 8441 (extended CONNECT on HTTP/2) to raw frames, with the stream API", function()
    H.run(function()
      local seen = {}
      local server = http2.createServer({ settings = { enableConnectProtocol = true } })
      server:on("stream", function(stream, headers) app(stream, headers, seen) end)
      local port = H.listen(server)
      local s = raw("h2", port)
      assert.truthy(H.wait_until(function() return #seen >= 21 end, 6000), table.concat(seen, ","))
      check(s, seen, true)
      assert.truthy(s.badversion:find("HANDSHAKE 400", 1, true), s.badversion)
      server:close()
    end, 90000)
  end)

  it("serves python3-websockets (a client library) over HTTP/1.1, plain and TLS", function()
    local script = os.tmpname() .. ".py"
    local pki = os.tmpname() .. ".pki"
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. pki .. " >/dev/null"))
    H.writefile(script, [[
import asyncio, ssl, sys, websockets
async def main():
    ctx = None
    if sys.argv[2] == "wss":
        ctx = ssl.create_default_context(cafile=sys.argv[3])
    async with websockets.connect("%s://localhost:%s/ws" % (sys.argv[2], sys.argv[1]), max_size=None,
                                  subprotocols=["chat"], ssl=ctx) as ws:
        print("protocol", ws.subprotocol)
        await ws.send("h\u00e9llo"); print("text", await ws.recv())
        await ws.send(bytes(range(256)) * 1000); b = await ws.recv(); print("binary", len(b), b == bytes(range(256)) * 1000)
        pong = await ws.ping(b"abc"); await asyncio.wait_for(pong, 5); print("pong ok")
        await ws.close(3001, "done")
        print("closed", ws.close_code)
asyncio.run(main())
]])
    H.run(function()
      local seen = {}
      local server = http2.createServer({ allowHTTP1 = true }, function(req, res) app(req, res, seen) end)
      -- a client offering no ALPN gets HTTP/1.1, as in Node.js
      local tls = http2.createSecureServer({ allowHTTP1 = true, key = H.readfile(pki .. "/server-key.pem"),
        cert = H.readfile(pki .. "/server.pem") }, function(req, res) app(req, res, seen) end)
      for i, case in ipairs({ { server, "ws" }, { tls, "wss" } }) do
        local port = H.listen(case[1])
        local rc, out, err = H.sh(H.PY .. " " .. script .. " " .. port .. " " .. case[2] .. " " .. pki .. "/ca.pem", 30)
        assert.equal(0, rc, err)
        assert.truthy(out:find("protocol chat\ntext héllo\nbinary 256000 True\npong ok\nclosed 3001", 1, true), out)
        assert.truthy(H.wait_until(function() return seen[i] == "/ws 3001" end, 3000), table.concat(seen, ","))
        case[1]:close()
      end
    end, 60000)
    os.remove(script)
    os.execute("rm -rf " .. pki)
  end)

  it("headless Chromium opens examples/websocket.lua's page and exchanges messages over h2 and HTTP/1.1", function()
    assert.is_true(H.exists(CHROMIUM), "chromium is installed by ./bootstrap check")
    local pki = os.tmpname() .. ".pki"
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. pki .. " >/dev/null"))
    -- the example runs as a program; the page reports to it, it prints
    for _, case in ipairs({ { "https", "h2", pki .. "/server.pem " .. pki .. "/server-key.pem" },
                            { "http", "http/1.1", "" } }) do
      local proc = H.start("examples/websocket.lua", "0 " .. case[3])
      local url = H.wait_output(proc, "listening on (%S+)", 10)
      local profile, base = os.tmpname() .. ".profile", os.tmpname()
      local pid
      if url then
        os.execute(string.format("(%s --headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run" ..
          " --disable-background-networking --disable-component-update --disable-sync" ..
          " --user-data-dir=%s --ignore-certificate-errors '%s?auto' > /dev/null 2>&1 & echo $! > %s.pid)",
          CHROMIUM, profile, url, base))
        pid = tonumber(H.readfile(base .. ".pid") or "")
      end
      local result = url and H.wait_output(proc, "browser (result:[^\n]*)", 40)
      if pid then -- gone before its profile is removed (bounded)
        os.execute("kill " .. pid .. " 2>/dev/null; for i in $(seq 50); do kill -0 " .. pid ..
          " 2>/dev/null || break; sleep 0.1; done")
      end
      local out, err = H.stop(proc)
      os.execute("rm -rf " .. profile .. " " .. base .. " " .. base .. ".pid")
      assert.truthy(url, "the example did not start: " .. err)
      assert.truthy(url:find("^" .. case[1] .. "://"), url)
      assert.equal("result:ok:" .. case[2] .. ":", result, out .. err)
    end
    os.execute("rm -rf " .. pki)
  end)
end)

describe("h2lua.websocket in the h2lua program", function()
  it("SIGTERM closes open sockets with 1001 and the program exits 0 (10 s bound)", function()
    local proc = H.start("examples/websocket.lua", "0")
    local port = H.wait_output(proc, "listening on http://localhost:(%d+)/", 10)
    assert.truthy(port, "the example did not start")
    local script, out = os.tmpname() .. ".py", os.tmpname()
    H.writefile(script, [[
import asyncio, sys, websockets
async def main():
    async with websockets.connect("ws://127.0.0.1:%s/chat" % sys.argv[1]) as ws:
        print(await ws.recv(), flush=True)
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed:
            pass
        print("closed", ws.close_code, ws.close_reason, flush=True)
asyncio.run(main())
]])
    os.execute(string.format("(timeout 20 %s %s %s > %s 2>&1 &)", H.PY, script, port, out))
    local got
    for _ = 1, 250 do
      got = H.readfile(out) or ""
      if got:find("welcome", 1, true) then break end
      os.execute("sleep 0.02")
    end
    os.execute("kill -TERM " .. proc.pid)
    local status = H.status(proc, 10)
    for _ = 1, 250 do
      got = H.readfile(out) or ""
      if got:find("closed", 1, true) then break end
      os.execute("sleep 0.02")
    end
    local _, err = H.stop(proc)
    os.remove(script)
    os.remove(out)
    assert.truthy(got:find("welcome http/1.1\nclosed 1001 going away", 1, true), got .. err)
    assert.equal(0, status, err)
  end)
end)

describe("h2lua.websocket under valgrind", function()
  it("both protocols' sockets, their protocol errors and a handler's error leak nothing", function()
    local log, app = os.tmpname(), os.tmpname() .. ".lua"
    H.writefile(app, [[
      local http2 = require "http2"
      local websocket = require "h2lua.websocket"
      local server = http2.createServer({ allowHTTP1 = true, settings = { enableConnectProtocol = true } })
      local function h(req, res)
        local path = req.headers[":path"]
        if path == "/plain" then res:writeHead(200); return res:finish("x") end
        local ws = websocket.accept(req, res, { maxPayload = path == "/small" and 1000 or nil,
          fragmentSize = path == "/frag" and 4 or nil })
        if not ws then return end
        if path == "/bye" then ws:send("soon"); ws:close(4000, "done") end
        if path == "/boom" then ws:on("message", function() error("boom") end) return end
        while true do
          local d, k = ws:receive()
          if not d then break end
          ws:send(d, k == "binary")
        end
      end
      server:on("request", h)
      server:on("connect", h)
      server:listen(0, "127.0.0.1", function()
        print("listening on " .. server:address().port)
        io.stdout:flush()
      end)
    ]])
    local proc = H.start(app, "", string.format(H.VALGRIND, log))
    local port = H.wait_output(proc, "listening on (%d+)", 60)
    assert.is_not_nil(port, "server did not start under valgrind")
    local outs = {}
    for _, mode in ipairs({ "h1", "h2" }) do
      local p = io.popen(H.PY .. " " .. H.CLIENTS .. "/ws_raw.py " .. mode .. " " .. port ..
        " echo frag serverfrag unmasked badutf8 toobig badclose serverclose boom vanish badversion plain 2>&1")
      outs[mode] = p:read("a")
      p:close()
    end
    os.execute("kill -TERM " .. proc.pid)
    local status = H.status(proc, 60)
    H.stop(proc)
    local report = H.readfile(log) or ""
    os.remove(log)
    os.remove(app)
    for mode, out in pairs(outs) do
      local _, closes = out:gsub("\nCLOSE ", "")
      assert.equal(9, closes, mode .. ":\n" .. out)
    end
    assert.equal(0, status, report)
    H.assert_valgrind_clean(report)
  end)
end)
