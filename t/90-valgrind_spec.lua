-- The suite's kind of server under valgrind: no invalid access, nothing
-- definitely or indirectly lost, through uploads, downloads, resets,
-- handler errors and the graceful shutdown.
local H = require "helper"

local VALGRIND = H.VALGRIND

describe("under valgrind", function()
  it("a server run leaks nothing and touches no freed memory", function()
    local log = os.tmpname()
    local app = os.tmpname() .. ".lua"
    H.writefile(app, [[
      local http2 = require "http2"
      local h2lua = require "h2lua"
      local server = http2.createServer()
      server:on("stream", function(stream, headers)
        local p = headers[":path"]
        if p == "/boom" then error("boom") end
        if p == "/up" then
          local body = stream:readAll()
          stream:respond()
          stream:finish(tostring(body and #body))
          return
        end
        if p == "/rst" then h2lua.sleep(100) return end
        stream:respond({ ["x-n"] = 1 })
        for i = 1, 40 do
          if not stream:write(string.rep("x", 8192)) then stream:wait("drain") end
        end
        stream:finish()
      end)
      server:listen(0, "127.0.0.1", function()
        print("listening on http://127.0.0.1:" .. server:address().port .. "/")
        io.stdout:flush()
      end)
    ]])
    local proc = H.start(app, "", string.format(VALGRIND, log))
    local port = H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 60)
    assert.is_not_nil(port, "server did not start under valgrind")
    local base = "http://127.0.0.1:" .. port
    local up = os.tmpname()
    H.writefile(up, H.bytes(200000, 2))
    local function sh(cmd)
      local p = io.popen(cmd .. " 2>/dev/null")
      local out = p:read("a")
      p:close()
      return out
    end
    assert.equal(327680, #sh("curl -s --http2-prior-knowledge " .. base .. "/dl"))
    assert.equal("200000", sh("nghttp -d " .. up .. " " .. base .. "/up"))
    assert.equal("500", sh("curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge " .. base .. "/boom"))
    sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py rst-after-headers " .. port)
    sh("h2load -n 200 -c 4 -m 4 " .. base .. "/")
    os.remove(up)
    os.execute("kill -TERM " .. proc.pid)
    local status = H.status(proc, 60)
    H.stop(proc)
    local report = H.readfile(log) or ""
    if os.getenv("H2LUA_KEEP_VALGRIND") then H.writefile(os.getenv("H2LUA_KEEP_VALGRIND"), report) end
    os.remove(log)
    os.remove(app)
    assert.equal(0, status, report)
    H.assert_valgrind_clean(report)
  end)
end)

describe("under valgrind, TLS and the client", function()
  it("a TLS server and our client (good and bad certificates, refused) leak nothing", function()
    local pki = os.tmpname() .. ".pki"
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. pki .. " >/dev/null"))
    local app = os.tmpname() .. ".lua"
    H.writefile(app, ([[
      local http2 = require "http2"
      local function rd(p) local f = assert(io.open(p)); local s = f:read("a"); f:close(); return s end
      local server = http2.createSecureServer({ key = rd("%s/server-key.pem"), cert = rd("%s/server.pem") })
      server:on("stream", function(st) st:respond() st:finish("ok") end)
      server:listen(0, "127.0.0.1")
      server:wait("listening")
      local port = server:address().port
      local s = http2.connect("https://localhost:" .. port, { ca = rd("%s/ca.pem") })
      local req = s:request({ [":path"] = "/" })
      req:wait("response")
      print(req:readAll())
      local bad = http2.connect("https://localhost:" .. port)
      bad:on("error", function(e) print(e.code) end)
      bad:wait("close")
      local plain = http2.connect("http://127.0.0.1:1")
      plain:on("error", function(e) print(e.code) end)
      plain:wait("close")
      s:close()
      server:close()
    ]]):format(pki, pki, pki))
    local log = os.tmpname()
    local cmd = string.format(VALGRIND, log) .. " " .. H.BIN .. " " .. app .. " 2>/dev/null"
    local p = io.popen(cmd)
    local out = p:read("a")
    local ok = p:close()
    local report = H.readfile(log) or ""
    os.remove(log)
    os.remove(app)
    os.execute("rm -rf " .. pki)
    assert.is_true(ok, report)
    assert.truthy(out:find("^ok\n"), out)
    assert.truthy(out:find("ECONNREFUSED", 1, true), out)
    H.assert_valgrind_clean(report)
  end)
end)

describe("under valgrind, hostile peers", function()
  it("bad prefaces, HTTP/1.1 on an h2c-only server, header blocks cut short by COMPRESSION_ERROR, idle streams past the limit: nothing lost, no freed memory touched (60 s bounds)", function()
    local log = os.tmpname()
    local app = os.tmpname() .. ".lua"
    H.writefile(app, [[
      local http2 = require "http2"
      local server = http2.createServer()
      server:on("stream", function(stream)
        local body = stream:readAll()
        if not body or stream.destroyed then return end
        stream:respond()
        stream:finish("read " .. #body)
      end)
      server:on("session", function(s) s:on("error", function() end) end)
      server:listen(0, "127.0.0.1", function()
        print("listening on http://127.0.0.1:" .. server:address().port .. "/")
        io.stdout:flush()
      end)
    ]])
    local proc = H.start(app, "", string.format(VALGRIND, log))
    local port = H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 60)
    assert.is_not_nil(port, "server did not start under valgrind")
    local function sh(cmd)
      local p = io.popen("timeout -k 2 60 " .. cmd .. " 2>&1")
      local out = p:read("a")
      p:close()
      return out
    end
    local raw = H.PY .. " " .. H.CLIENTS .. "/h2raw.py " .. port .. " "
    local outs = {}
    for _, actions in ipairs({
      "bytes 474554202f20485454502f312e310d0a0d0a; wait 0.5",         -- GET / HTTP/1.1
      "bytes 505249202a20485454502f322e300d0a0d0a534d0d0a0d51; wait 0.5", -- a preface wrong at its end
      -- :method, :scheme, :path, a literal :authority, then an index past the tables
      "preface; settings; settings-ack; frame 1 5 1 82868441096c6f63616c686f7374c6; wait 0.5",
      "preface; settings; settings-ack; headers 1 :method=POST :path=/up; frame 1 4 3 41096c6f63616c686f7374ff; wait 0.5",
    }) do
      outs[#outs + 1] = sh(raw .. H.shq(actions))
    end
    local idle = sh(H.PY .. " " .. H.CLIENTS .. "/idle_streams.py " .. port .. " 2 2000 3 mixed")
    local ok = sh("curl -s -m 20 --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
    os.execute("kill -TERM " .. proc.pid)
    local status = H.status(proc, 60)
    H.stop(proc)
    local report = H.readfile(log) or ""
    os.remove(log)
    os.remove(app)
    assert.truthy(outs[1]:find("GOAWAY stream=0 flags=0 len=8 last=0 code=1", 1, true), outs[1])
    assert.truthy(outs[2]:find("GOAWAY stream=0 flags=0 len=8 last=0 code=1", 1, true), outs[2])
    assert.truthy(outs[3]:find("GOAWAY .* code=9"), outs[3])
    assert.truthy(outs[4]:find("GOAWAY .* code=9"), outs[4])
    assert.truthy(idle:find("goaway=1:1", 1, true) and idle:find("refused=[1-9]"), idle)
    assert.equal("read 0", ok)
    assert.equal(0, status, report)
    H.assert_valgrind_clean(report)
  end)
end)

-- Runs |cmd| (stderr dropped) and returns its output.
local function sh(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  local out = p:read("a")
  p:close()
  return out
end

describe("under valgrind, HTTP/1.1", function()
  it("keep-alive, pipelined, chunked and 100-continue uploads, a handler error, Upgrade: h2c and ALPN http/1.1 leak nothing (exit 0 on SIGTERM)", function()
    local pki = os.tmpname() .. ".pki"
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. pki .. " >/dev/null"))
    local log = os.tmpname()
    local app = os.tmpname() .. ".lua"
    H.writefile(app, ([[
      local http2 = require "http2"
      local function rd(p) local f = assert(io.open(p)); local s = f:read("a"); f:close(); return s end
      local function handler(req, res)
        if req.url == "/boom" then error("boom") end
        local body = req:readAll() or ""
        if req.url == "/trailers" then res:addTrailers({ ["x-sum"] = tostring(#body) }) end
        res:writeHead(200, { ["content-type"] = "text/plain" })
        res:write(req.method .. " " .. req.url .. " " .. req.httpVersion .. " ")
        res:finish(tostring(#body))
      end
      local plain = http2.createServer({ allowHTTP1 = true }, handler)
      local tls = http2.createSecureServer({ allowHTTP1 = true,
        key = rd("%s/server-key.pem"), cert = rd("%s/server.pem") }, handler)
      plain:listen(0, "127.0.0.1")
      tls:listen(0, "127.0.0.1")
      plain:wait("listening")
      tls:wait("listening")
      print("listening " .. plain:address().port .. " " .. tls:address().port)
      io.stdout:flush()
    ]]):format(pki, pki))
    local proc = H.start(app, "", string.format(VALGRIND, log))
    local ports = H.wait_output(proc, "(listening %d+ %d+)", 60)
    assert.is_not_nil(ports, "server did not start under valgrind")
    local port, tport = ports:match("listening (%d+) (%d+)")
    local base = "http://127.0.0.1:" .. port
    local up = os.tmpname()
    H.writefile(up, H.bytes(100000, 3))
    local c11 = "curl -s --http1.1 "
    local keepalive = sh(c11 .. base .. "/a " .. base .. "/b")
    local chunked = sh(c11 .. "-H 'Transfer-Encoding: chunked' --data-binary @" .. up .. " " .. base .. "/trailers")
    local expect = sh(c11 .. "-H 'Expect: 100-continue' --data-binary @" .. up .. " " .. base .. "/c")
    local boom = sh(c11 .. "-o /dev/null -w '%{http_code}' " .. base .. "/boom")
    local pipelined = sh(H.PY .. " -c " .. H.shq(([[
import socket
s = socket.create_connection(('127.0.0.1', %s))
s.sendall(b'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc'
          b'GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
s.settimeout(30)
d = b''
while True:
    c = s.recv(65536)
    if not c:
        break
    d += c
print(d.count(b'HTTP/1.1 200'))
]]):format(port)))
    local upgraded = sh("curl -s --http2 " .. base .. "/u")
    local alpn = sh(c11 .. "--cacert " .. pki .. "/ca.pem https://localhost:" .. tport .. "/t")
    os.remove(up)
    os.execute("kill -TERM " .. proc.pid)
    local status = H.status(proc, 60)
    H.stop(proc)
    local report = H.readfile(log) or ""
    os.remove(log)
    os.remove(app)
    os.execute("rm -rf " .. pki)
    assert.equal("GET /a 1.1 0GET /b 1.1 0", keepalive)
    assert.equal("POST /trailers 1.1 100000", chunked)
    assert.equal("POST /c 1.1 100000", expect)
    assert.equal("500", boom)
    assert.equal("3\n", pipelined)
    assert.equal("GET /u 2.0 0", upgraded)
    assert.equal("GET /t 1.1 0", alpn)
    assert.equal(0, status, report)
    H.assert_valgrind_clean(report)
  end)
end)

describe("under valgrind, our client and h2lua.net", function()
  it("h2c requests (bodies both ways, trailers, a push, a reset, a session destroyed by its handler and one by the client with requests in flight) and net sockets (echo, pipe, createConnection) leak nothing", function()
    local app = os.tmpname() .. ".lua"
    H.writefile(app, [[
      local http2 = require "http2"
      local h2lua = require "h2lua"
      local net = h2lua.net
      local C = http2.constants
      local server = http2.createServer()
      server:on("stream", function(st, h)
        local p = h[":path"]
        if p == "/echo" then
          local body = st:readAll()
          st:respond({ [":status"] = 200 }, { waitForTrailers = true })
          st:on("wantTrailers", function() st:sendTrailers({ ["x-len"] = tostring(#body) }) end)
          st:finish(body)
        elseif p == "/push" then
          st:respond()
          local err, push = st:pushStream({ [":path"] = "/pushed" })
          if push then push:respond() push:finish("pushed") end
          st:finish("main")
        elseif p == "/rst" then
          st:close(C.NGHTTP2_CANCEL)
        elseif p == "/destroy" then
          -- its own header block is still held while the handler runs
          st.session:destroy()
        elseif p == "/hang" then
          h2lua.sleep(60000)
        else
          st:respond()
          st:finish("ok")
        end
      end)
      server:listen(0, "127.0.0.1")
      server:wait("listening")
      local port = server:address().port
      local url = "http://127.0.0.1:" .. port
      local out = {}

      local s = http2.connect(url)
      local pushed
      s:on("stream", function(ps) pushed = ps:readAll() end)
      local body = string.rep("b", 100000)
      local echo = s:request({ [":method"] = "POST", [":path"] = "/echo" })
      h2lua.spawn(function()
        for i = 1, #body, 16384 do
          if not echo:write(body:sub(i, i + 16383)) then echo:wait("drain") end
        end
        echo:finish()
      end)
      echo:wait("response")
      local got = echo:readAll()
      local trailers = echo.trailers or {}
      if not trailers["x-len"] then trailers = echo:wait("trailers") or {} end
      out[#out + 1] = #got .. " " .. tostring(trailers["x-len"])
      local preq = s:request({ [":path"] = "/push" })
      preq:wait("response")
      out[#out + 1] = preq:readAll()
      local rst = s:request({ [":path"] = "/rst" })
      rst:on("error", function() end)
      rst:wait("close")
      out[#out + 1] = "rst " .. tostring(rst.rstCode)
      local d = s:request({ [":path"] = "/destroy", ["x-custom"] = "a value nghttp2 keeps" })
      d:on("error", function() end)
      d:wait("close")
      s:close()

      local s2 = http2.connect(url)
      s2:on("error", function() end)
      local hang = s2:request({ [":path"] = "/hang" })
      hang:on("error", function() end)
      hang:wait("ready")
      s2:destroy()
      hang:wait("close")

      local echo_srv = net.createServer(function(sock) sock:pipe(sock) end)
      echo_srv:listen(0, "127.0.0.1")
      echo_srv:wait("listening")
      local c = net.connect(echo_srv:address().port, "127.0.0.1")
      h2lua.spawn(function()
        for i = 1, #body, 16384 do
          if not c:write(body:sub(i, i + 16383)) then c:wait("drain") end
        end
        c:finish()
      end)
      out[#out + 1] = "net " .. #c:readAll()
      echo_srv:close()

      local s3 = http2.connect(url, { createConnection = function()
        return net.connect(port, "127.0.0.1")
      end })
      local r3 = s3:request({ [":path"] = "/" })
      r3:wait("response")
      out[#out + 1] = "over net " .. r3:readAll()
      s3:close()
      out[#out + 1] = "pushed " .. tostring(pushed)
      server:close()
      print(table.concat(out, "\n"))
    ]])
    local log = os.tmpname()
    local cmd = "timeout -k 2 120 env " .. string.format(VALGRIND, log) .. " " .. H.BIN .. " " .. app .. " 2>/dev/null"
    local p = io.popen(cmd)
    local out = p:read("a")
    local ok = p:close()
    local report = H.readfile(log) or ""
    os.remove(log)
    os.remove(app)
    assert.equal("100000 100000\nmain\nrst 8\nnet 100000\nover net ok\npushed pushed\n", out)
    assert.is_true(ok, report)
    H.assert_valgrind_clean(report)
  end)
end)
