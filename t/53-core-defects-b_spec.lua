-- Defects of the core engine (issue items 6a-6d, 7, 8, 9), each as the
-- behaviour a corrected engine must show, end to end with real clients:
-- respondWithFD over HTTP/1.1; "Upgrade: h2c" without "Connection:
-- Upgrade"; allowHTTP1 with an SNICallback context; SIGTERM with a live
-- timer; a response that ends before the request body was read; a client
-- stream's body read after the stream closed; responses that arrive out
-- of stream-id order on a client session. Every wait is bounded.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local MiB = 1024 * 1024

local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end

-- Sends |data| on a raw socket; reads up to |n| HTTP/1.1 responses within
-- |secs| (t/clients/defects_b_raw.py). -> list of {status, body}, how it
-- ended ("done", "eof", "reset", "timeout"), after how many seconds, and
-- the raw output.
local function raw_http(port, data, secs, n)
  local _, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/defects_b_raw.py " .. port .. " " .. hex(data) ..
    " " .. secs .. " " .. n, secs + 10)
  local responses = {}
  for status, body in out:gmatch("response (%d+) %d+ ([^\n]*)\n") do
    responses[#responses + 1] = { tonumber(status), body }
  end
  local how, after = out:match("(%a+) ([%d.]+)\n$")
  return responses, how, tonumber(after), out .. err
end

-- The descriptor number of the file this process opened at |path|
-- (through /proc: Lua has no fileno).
local function fd_of(path)
  local stat = H.readfile("/proc/self/stat") or ""
  local pid = stat:match("^(%d+)")
  local p = io.popen("find /proc/" .. pid .. "/fd -lname " .. H.shq(path) .. " 2>/dev/null")
  local out = p:read("a")
  p:close()
  return tonumber(out:match("/fd/(%d+)"))
end

describe("core defects (b)", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  -- 6a
  it("respondWithFD over HTTP/1.1 sends the whole file (file handle and integer fd; curl --max-time 5)", function()
    H.run(function()
      local path = os.tmpname()
      local data = H.bytes(300000 + 7, 61)
      H.writefile(path, data)
      local int_path = path .. ".int" -- opened only for /int: one descriptor to find
      H.writefile(int_path, data)
      local server = http2.createServer({ allowHTTP1 = true }, function(req, res)
        local f = assert(io.open(req.url == "/int" and int_path or path, "rb"))
        -- the descriptor stays ours (Node: closed by the caller when done)
        req.stream:on("close", function() f:close() end)
        local fd = f
        if req.url == "/int" then fd = assert(fd_of(int_path), "no descriptor found for the file") end
        req.stream:respondWithFD(fd, { ["content-type"] = "application/octet-stream" })
      end)
      local port = H.listen(server)
      local want = #data .. " " .. H.sha256(data)
      local got, wanted = {}, {}
      for _, case in ipairs({ { "--http1.1", "/file" }, { "--http1.1", "/int" }, { "--http2-prior-knowledge", "/file" } }) do
        local out = os.tmpname()
        local rc, code, err = H.sh("curl -sS --max-time 5 -o " .. out .. " -w '%{http_code}' " .. case[1] ..
          " http://127.0.0.1:" .. port .. case[2], 10)
        local body = H.readfile(out) or ""
        os.remove(out)
        got[#got + 1] = table.concat(case, " ") .. ": rc " .. rc .. " status " .. code .. " " .. #body .. " " ..
          H.sha256(body) .. (err ~= "" and " (" .. err:gsub("\n", " ") .. ")" or "")
        wanted[#wanted + 1] = table.concat(case, " ") .. ": rc 0 status 200 " .. want
      end
      os.remove(path)
      os.remove(int_path)
      assert.same(wanted, got)
    end)
  end)

  -- 6b
  it("'Upgrade: h2c' without 'Connection: Upgrade' is answered as HTTP/1.1 with allowHTTP1 (within 5 s)", function()
    H.run(function()
      local server = http2.createServer({ allowHTTP1 = true }, function(req, res)
        res:setHeader("content-type", "text/plain")
        res:finish(req.method .. " " .. req.url .. " " .. req.httpVersion)
      end)
      local port = H.listen(server)
      local settings = "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
      -- no Connection field at all; then one naming HTTP2-Settings only;
      -- each followed on the same connection by a plain request
      for _, conn in ipairs({ "", "Connection: HTTP2-Settings\r\n" }) do
        local t0 = h2lua.now()
        local responses, how, after, raw = raw_http(port,
          "GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n" .. settings .. conn .. "\r\n" ..
          "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5, 2)
        local took = h2lua.now() - t0
        assert.same({ { 200, "GET /a 1.1" }, { 200, "GET /b 1.1" } }, responses,
          "[" .. conn .. "] got: " .. raw)
        assert.equal("done", how, raw)
        assert.is_true(after < 5 and took < 6000, "answered after " .. tostring(after) .. " s")
      end
      -- the server still upgrades a proper request
      local responses, how, _, raw = raw_http(port, "GET /c HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n" .. settings ..
        "Connection: Upgrade, HTTP2-Settings\r\n\r\n", 5, 1)
      assert.same({ { 101, "" } }, responses, raw)
    end)
  end)

  it("'Upgrade: h2c' without 'Connection: Upgrade' on an h2c-only server is answered or closed within 5 s", function()
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(st) st:respond() st:finish("h2") end)
      local port = H.listen(server)
      local settings = "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
      for _, conn in ipairs({ "", "Connection: close\r\n" }) do
        local t0 = h2lua.now()
        local responses, how, after, raw = raw_http(port,
          "GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n" .. settings .. conn .. "\r\n", 5, 1)
        local took = h2lua.now() - t0
        -- a response (505, as for any HTTP/1.1 request here) or a close;
        -- never a connection left hanging, never a 101
        assert.is_true(how == "done" or how == "eof", "[" .. conn .. "] " .. tostring(how) .. ": " .. raw)
        assert.is_true(after < 5 and took < 6000, "answered after " .. tostring(after) .. " s")
        if responses[1] then
          assert.is_true(responses[1][1] >= 400, raw)
        end
      end
      local rc, body = H.sh("curl -sS --max-time 5 --http2-prior-knowledge http://127.0.0.1:" .. port .. "/", 10)
      assert.equal(0, rc)
      assert.equal("h2", body)
    end)
  end)

  -- 6c
  describe("TLS", function()
    local PKI = os.tmpname() .. ".pki"
    local function pem(name) return H.readfile(PKI .. "/" .. name .. ".pem") end
    local function key(name) return H.readfile(PKI .. "/" .. name .. "-key.pem") end
    setup(function()
      assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. PKI .. " >/dev/null"))
    end)
    teardown(function() os.execute("rm -rf " .. PKI) end)

    it("a context from SNICallback keeps allowHTTP1: curl --http1.1 to that name is served (curl --max-time 5)", function()
      H.run(function()
        local asked = {}
        local server = http2.createSecureServer({ allowHTTP1 = true, key = key("server"), cert = pem("server"),
          SNICallback = function(name, cb)
            asked[#asked + 1] = name
            if name == "other.test" then
              cb(nil, h2lua.tls.createSecureContext({ key = key("other"), cert = pem("other") }))
            else
              cb(nil, nil)
            end
          end }, function(req, res)
            res:finish("hello " .. req.httpVersion .. " " .. tostring(req.socket.alpnProtocol))
          end)
        local port = H.listen(server)
        local base = " --max-time 5 --cacert " .. PKI .. "/ca.pem --resolve other.test:" .. port .. ":127.0.0.1 "
        -- the default context: fine already
        local rc, out, err = H.sh("curl -sS --http1.1" .. base .. "https://localhost:" .. port .. "/", 10)
        assert.equal(0, rc, err)
        assert.equal("hello 1.1 http/1.1", out)
        -- the callback's context, over h2 and over HTTP/1.1
        rc, out, err = H.sh("curl -sS --http2" .. base .. "https://other.test:" .. port .. "/", 10)
        assert.equal(0, rc, err)
        assert.equal("hello 2.0 h2", out)
        rc, out, err = H.sh("curl -sS --http1.1" .. base .. "https://other.test:" .. port .. "/", 10)
        assert.equal("rc 0 hello 1.1 http/1.1", "rc " .. rc .. " " .. out .. err)
        assert.same({ "localhost", "other.test", "other.test" }, asked)
      end)
    end)
  end)

  -- 6d
  it("SIGTERM ends the program (status 0) within 5 s despite a live setInterval / long setTimeout (drainTimeout 1000)", function()
    local procs, paths = {}, {}
    for i, timer in ipairs({ "h2lua.setInterval(function() ticks = ticks + 1 end, 100)",
                             "h2lua.setTimeout(function() print('fired') end, 60000)" }) do
      local path = os.tmpname() .. ".lua"
      paths[i] = path
      H.writefile(path, [[
local h2lua = require "h2lua"
local http2 = require "http2"
h2lua.drainTimeout = 1000
ticks = 0
]] .. timer .. [[

local server = http2.createServer()
server:on("stream", function(st) st:respond() st:finish("ok") end)
server:listen(0, "127.0.0.1", function()
  print("listening " .. server:address().port)
  io.stdout:flush()
end)
]])
      procs[i] = H.start(path)
    end
    local results = {}
    for i, proc in ipairs(procs) do
      local port = H.wait_output(proc, "listening (%d+)", 10)
      assert.is_not_nil(port, "program " .. i .. " did not start")
      local ok = os.execute("curl -s --max-time 5 --http2-prior-knowledge http://127.0.0.1:" .. port .. "/ >/dev/null")
      assert.is_true(ok == true, "program " .. i .. " does not serve")
    end
    local t0 = os.time()
    for _, proc in ipairs(procs) do os.execute("kill -TERM " .. proc.pid) end
    for i, proc in ipairs(procs) do
      local left = math.max(1, 5 - (os.time() - t0))
      results[i] = tostring(H.status(proc, left))
    end
    for i, proc in ipairs(procs) do
      local _, err = H.stop(proc)
      os.remove(paths[i])
      if results[i] ~= "0" and err ~= "" then results[i] = results[i] .. " (" .. err .. ")" end
    end
    -- "nil" is a program still running after the bound
    assert.same({ "0", "0" }, results)
  end)

  -- 7
  describe("a response that ends before the request body was read", function()
    local FILE = os.tmpname()
    local SIZE = 16 * MiB
    setup(function() H.writefile(FILE, H.bytes(SIZE, 77)) end)
    teardown(function() os.remove(FILE) end)

    -- the server's own view: each response finished, and its stream
    -- closed (a reset or a drained body, either way) without the body read
    local seen
    local function not_found_server()
      seen = { finished = 0, closed = 0 }
      local server = http2.createServer({ allowHTTP1 = true }, function(req, res)
        res:on("finish", function() seen.finished = seen.finished + 1 end)
        req.stream:on("close", function() seen.closed = seen.closed + 1 end)
        if req.url == "/ok" then -- an early 200: curl goes on sending then
          res:writeHead(200, { ["content-type"] = "text/plain" })
          res:finish("early ok")
          return
        end
        res:writeHead(404, { ["content-type"] = "text/plain" })
        res:finish("not here")
      end)
      return server, H.listen(server)
    end

    -- curl stops sending by itself once it sees an error status ("HTTP
    -- error before end of send"), though not every time: the 404 uploads
    -- hang in about half the runs on the old core, the early 200s in all.
    -- So six run at once, four for the 404 and two for a 200.
    -- curl 7.88.1 (Debian 12) drops a response that comes with
    -- RST_STREAM(NO_ERROR) and exits 92, "Stream error in the HTTP/2
    -- framing layer" (against Node.js 20's http2 server too, which answers
    -- as RFC 9113 8.1 says, and which curl must not discard); so 92 with
    -- that message is taken as well as a clean 0. Waiting out --max-time
    -- (28) is the defect.
    it("curl --http2-prior-knowledge x6 at once: 16 MiB uploads end with the 404 / early 200 (within 10 s)", function()
      H.run(function()
        local _, port = not_found_server()
        local base = os.tmpname()
        local paths = { "/up", "/up", "/up", "/up", "/ok", "/ok" }
        local cmds = {}
        for i, path in ipairs(paths) do
          local f = base .. "." .. i
          cmds[i] = ("(curl -sS --max-time 10 --http2-prior-knowledge -o %s.body -w '%%{http_code}' " ..
            "--data-binary @%s http://127.0.0.1:%d%s > %s.code 2> %s.err; echo $? > %s.rc) &"):format(
            f, FILE, port, path, f, f, f)
        end
        local t0 = h2lua.now()
        H.sh(table.concat(cmds, " ") .. " wait", 20)
        local took = h2lua.now() - t0
        local got, want = {}, {}
        for i, path in ipairs(paths) do
          local f = base .. "." .. i
          local rc = tonumber(H.readfile(f .. ".rc") or "")
          local err = H.readfile(f .. ".err") or ""
          local r = path .. ": rc " .. tostring(rc) .. " status " .. (H.readfile(f .. ".code") or "?") .. " " ..
            tostring(H.readfile(f .. ".body")) .. err
          want[i] = path == "/up" and "/up: rc 0 status 404 not here" or "/ok: rc 0 status 200 early ok"
          if rc == 92 and err:find("Stream error in the HTTP/2 framing layer", 1, true) then
            r = want[i] -- curl 7.88's view of a response + RST_STREAM(NO_ERROR)
          end
          got[i] = r
          for _, ext in ipairs({ ".body", ".code", ".err", ".rc" }) do os.remove(f .. ext) end
        end
        os.remove(base)
        assert.same(want, got)
        assert.is_true(took < 10000, "took " .. took .. " ms")
        assert.is_true(H.wait_until(function() return seen.closed == 6 end, 1000),
          "server streams closed: " .. seen.closed .. " of 6 (responses finished: " .. seen.finished .. ")")
      end)
    end)

    it("nghttp -d: a 16 MiB upload ends at once with the 404 (within 10 s)", function()
      H.run(function()
        local _, port = not_found_server()
        local t0 = h2lua.now()
        local rc, out, err = H.sh("nghttp -v -t 10 -d " .. FILE .. " http://127.0.0.1:" .. port .. "/up", 20)
        local took = h2lua.now() - t0
        assert.equal(0, rc)
        assert.truthy(out:find(":status: 404", 1, true), out:sub(1, 2000))
        assert.truthy(out:find("not here", 1, true))
        local nerr = (out .. err):match("%[ERROR%][^\n]*")
        assert.is_nil(nerr, "nghttp: " .. tostring(nerr))
        assert.is_true(took < 10000, "took " .. took .. " ms")
        assert.is_true(H.wait_until(function() return seen.closed == 1 end, 1000), "the server's stream is still open")
      end)
    end)

    it("our client: 16 MiB written with backpressure; 404, the body, 'close' (rstCode 0) within 10 s, no error", function()
      H.run(function()
        local _, port = not_found_server()
        local s = http2.connect("http://127.0.0.1:" .. port)
        local events = {}
        s:on("error", function(e) events[#events + 1] = "session error " .. tostring(e.code) end)
        s:on("goaway", function(code) events[#events + 1] = "goaway " .. code end)
        assert(s:wait("connect", 5000))
        local t0 = h2lua.now()
        local req = s:request({ [":method"] = "POST", [":path"] = "/up" })
        local status
        req:on("response", function(h) status = h[":status"] end)
        req:on("error", function(e) events[#events + 1] = "stream error " .. tostring(e.code) end)
        local body
        h2lua.spawn(function() body = req:readAll() end)
        local chunk = string.rep("u", 65536)
        local sent = 0
        while sent < SIZE and not req.closed and not req.destroyed and h2lua.now() - t0 < 10000 do
          local ok, more = pcall(req.write, req, chunk)
          if not ok then
            events[#events + 1] = "write raised " .. tostring(type(more) == "table" and more.code or more)
            break
          end
          sent = sent + #chunk
          if not more then req:wait("drain", math.max(1, 10000 - (h2lua.now() - t0))) end
        end
        if sent >= SIZE and not req.closed and not req.destroyed then req:finish() end
        local closed = req:wait("close", math.max(1, 10000 - (h2lua.now() - t0)))
        local took = h2lua.now() - t0
        assert.equal(404, status)
        assert.equal("not here", body)
        assert.is_true(closed == true and took < 10000,
          "no 'close' within 10 s (" .. sent .. " bytes written, " .. math.floor(took) .. " ms)")
        assert.equal(0, req.rstCode)
        assert.same({}, events)
        assert.is_true(H.wait_until(function() return seen.closed == 1 end, 1000), "the server's stream is still open")
        -- the session carries on
        local again = s:request({ [":path"] = "/again" })
        assert.equal(404, (again:wait("response", 5000) or {})[":status"])
        assert.equal("not here", again:readAll())
        s:destroy()
      end, 40000)
    end)

    -- curl sees "Send failure: Connection reset by peer" (55) now and
    -- then (about 1 run in 30 here, so it runs 10 times each way); Node's
    -- client, which sends its whole body before it reads, gets ECONNRESET
    -- every time. Both need a server that goes on reading (and dropping)
    -- the unread body instead of closing on it.
    it("HTTP/1.1: curl x10 (with and without Expect) and Node's http client get the 404 cleanly (each within 10 s)", function()
      H.run(function()
        local _, port = not_found_server()
        local got, want = {}, {}
        for _, expect in ipairs({ "", " -H 'Expect:'" }) do
          local runs = {}
          for _ = 1, 10 do
            local out = os.tmpname()
            local rc, code, err = H.sh("curl -sS --max-time 10 --http1.1" .. expect .. " -o " .. out ..
              " -w '%{http_code}' --data-binary @" .. FILE .. " http://127.0.0.1:" .. port .. "/up", 20)
            local body = H.readfile(out)
            os.remove(out)
            local r = "rc " .. rc .. " status " .. code .. " " .. tostring(body) .. err
            runs[r] = (runs[r] or 0) + 1
          end
          for r, n in pairs(runs) do got[#got + 1] = "curl" .. expect .. ": " .. n .. "x " .. r end
          want[#want + 1] = "curl" .. expect .. ": 10x rc 0 status 404 not here"
        end
        table.sort(got)
        table.sort(want)
        -- Node's client sends the whole body (content-length), then reads
        local t0 = h2lua.now()
        local _, out, err = H.sh("node " .. H.CLIENTS .. "/defects_b_h1post.js " .. port .. " /up " .. SIZE .. " 10", 20)
        local took = h2lua.now() - t0
        local node = out:find("response 404 not here\n", 1, true) and not out:find("error ", 1, true)
          and "response 404 not here" or (out:gsub("\n", "; ") .. err)
        got[#got + 1] = "node: " .. node
        want[#want + 1] = "node: response 404 not here"
        assert.same(want, got)
        assert.is_true(took < 10000, "took " .. took .. " ms")
        assert.is_true(H.wait_until(function() return seen.closed == 21 end, 1000),
          "server streams closed: " .. seen.closed .. " of 21")
      end, 90000)
    end)
  end)

  -- 8
  it("client bodies read after their streams closed are complete; 'close' comes after 'end' (10 streams, 5 s)", function()
    H.run(function()
      local server = http2.createServer()
      local server_closed = 0
      local function body_of(i) return H.bytes(3000 + i * 700, 100 + i) end
      server:on("stream", function(st, h)
        local i = tonumber(h[":path"]:match("%d+"))
        st:on("close", function() server_closed = server_closed + 1 end)
        st:respond({ ["content-type"] = "application/octet-stream" })
        st:finish(body_of(i))
      end)
      local port = H.listen(server)
      local s = http2.connect("http://127.0.0.1:" .. port)
      local reqs, events = {}, {}
      for i = 1, 10 do
        local r = s:request({ [":path"] = "/" .. i })
        reqs[i], events[i] = r, {}
        r:on("end", function() table.insert(events[i], "end") end)
        r:on("close", function() table.insert(events[i], "close") end)
      end
      -- every response is out and its stream closed on the server; a
      -- ping's answer comes after the DATA frames it followed
      assert.is_true(H.wait_until(function() return server_closed == 10 end, 5000), "server streams still open")
      assert.is_nil((s:ping()))
      assert.is_true(H.wait_until(function()
        for i = 1, 10 do if not reqs[i].closed then return false end end
        return true
      end, 5000), "client streams not closed")
      local lengths = {}
      for i = 1, 10 do
        local body
        if i % 2 == 0 then
          body = reqs[i]:readAll()
        else -- the chunk-wise form
          local parts = {}
          for _ = 1, 1000 do
            local c = reqs[i]:read()
            if not c then break end
            parts[#parts + 1] = c
          end
          body = table.concat(parts)
        end
        lengths[i] = #(body or "") .. (body == body_of(i) and "" or " (wrong bytes)")
      end
      local want = {}
      for i = 1, 10 do want[i] = tostring(#body_of(i)) end
      assert.same(want, lengths)
      for i = 1, 10 do reqs[i]:wait("close", 2000) end
      local orders = {}
      for i = 1, 10 do orders[i] = table.concat(events[i], ",") end
      local ends_then_close = {}
      for i = 1, 10 do ends_then_close[i] = "end,close" end
      assert.same(ends_then_close, orders)
      s:destroy()
    end)
  end)

  -- 9
  it("a client session takes responses in any stream-id order: all complete, no GOAWAY, a later request works (5 s)", function()
    H.run(function()
      local server = http2.createServer()
      local answered = {}
      server:on("stream", function(st, h)
        local i = tonumber(h[":path"]:match("%d+"))
        -- /1 waits until /2 has closed, /2 until /3 has: the answers go out as 3, 2, 1
        st:on("close", function() answered[i] = true end)
        if i < 3 then H.wait_until(function() return answered[i + 1] end, 3000) end
        if st.destroyed then return end -- the old client tore the session down
        st:respond({ ["x-n"] = i })
        st:finish(string.rep(tostring(i), 5000 * i))
      end)
      local port = H.listen(server)
      local s = http2.connect("http://127.0.0.1:" .. port)
      local events = {}
      s:on("error", function(e) events[#events + 1] = "session error " .. tostring(e.code) end)
      s:on("goaway", function(code) events[#events + 1] = "goaway " .. code end)
      s:on("close", function() events[#events + 1] = "session close" end)
      local reqs, order = {}, {}
      for i = 1, 3 do
        local r = s:request({ [":path"] = "/" .. i })
        reqs[i] = r
        r:on("error", function(e) events[#events + 1] = "stream " .. i .. " error " .. tostring(e.code) end)
        r:on("response", function() order[#order + 1] = i end)
      end
      local got = {}
      for i = 3, 1, -1 do
        local h, why = reqs[i]:wait("response", 5000)
        local body = h and reqs[i]:readAll()
        got[i] = h and (h[":status"] .. " " .. #(body or "")) or ("no response: " .. tostring(why))
      end
      assert.same({ "200 5000", "200 10000", "200 15000" }, got)
      assert.same({ 3, 2, 1 }, order)
      assert.same({}, events)
      assert.is_false(s.destroyed)
      local r4 = s:request({ [":path"] = "/4" })
      local h4 = r4:wait("response", 5000)
      assert.equal(200, h4 and h4[":status"])
      assert.equal(string.rep("4", 20000), r4:readAll())
      assert.same({}, events)
      s:destroy()
    end)
  end)
end)
