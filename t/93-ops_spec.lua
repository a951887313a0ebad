-- Running h2lua in production, the program's side: the access log, error
-- lines that say which request failed, --log-level, --help, --check, a
-- script from standard input, the drain message, and exit status 1 with
-- one line for each error that ends the program.
local H = require "helper"
local json = require "h2lua.json"

local run, script = H.exec, H.script

local function lines(s)
  local t = {}
  for l in (s or ""):gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- The JSON lines of |path| once it has |n| of them (the log is written by
-- the loop, a moment after each response).
local function log_lines(path, n)
  local got
  for _ = 1, 250 do
    got = lines(H.readfile(path))
    if #got >= n then break end
    os.execute("sleep 0.02")
  end
  local out = {}
  for i, l in ipairs(got) do out[i] = assert(json.decode(l), l) end
  return out
end

local APP = [[
local http2 = require "http2"
local function read(path)
  local f = assert(io.open(path, "rb")); local s = f:read("a"); f:close(); return s
end
local plain = http2.createServer({ allowHTTP1 = true }, function(req, res)
  res["end"](res, "hello " .. req.url)
end)
local tls = http2.createSecureServer({ cert = read(arg[1]), key = read(arg[2]) })
tls:on("stream", function(stream, headers)
  stream:respond({ [":status"] = 201 })
  stream:finish("tls " .. headers[":path"])
end)
local quiet = http2.createServer({ accessLog = false }, function(req, res) res["end"](res, "q") end)
plain:listen(0, "127.0.0.1", function()
  tls:listen(0, "127.0.0.1", function()
    quiet:listen(0, "127.0.0.1", function()
      print(("ports %d %d %d"):format(plain:address().port, tls:address().port, quiet:address().port))
      io.stdout:flush()
    end)
  end)
end)
]]

describe("the access log", function()
  it("--access-log FILE: a JSON line for an h2 (TLS), an h2c and an HTTP/1.1 request; accessLog = false opts out", function()
    local dir = os.tmpname() .. ".pki"
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. dir .. " >/dev/null"))
    local app = script(APP)
    local logfile = os.tmpname()
    local proc = H.start(nil, "--access-log " .. logfile .. " " .. app .. " " ..
      dir .. "/server.pem " .. dir .. "/server-key.pem")
    finally(function() H.stop(proc) end)
    local ports = H.wait_output(proc, "(ports %d+ %d+ %d+)", 10)
    assert.is_not_nil(ports, "server did not start")
    local plain, tls, quiet = ports:match("ports (%d+) (%d+) (%d+)")
    -- two requests on one h2c connection
    local out = run("nghttp http://127.0.0.1:" .. plain .. "/a http://127.0.0.1:" .. plain .. "/b?x=%22")
    assert.truthy(out:find("hello /a", 1, true) and out:find("hello /b?x=%22", 1, true), out)
    out = run("curl -sS --http1.1 http://127.0.0.1:" .. plain .. "/one")
    assert.equal("hello /one", out)
    -- a path with a quote, a backslash, UTF-8 and a byte that is not
    out = run(H.PY .. [[ -c "import socket; s = socket.create_connection(('127.0.0.1', ]] .. plain ..
      [[)); s.sendall(b'GET /q\"\\\\\xc3\xa9\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'); print(s.recv(15))"]])
    assert.truthy(out:find("200 OK", 1, true), out)
    out = run("curl -sS --http2 --cacert " .. dir .. "/ca.pem https://localhost:" .. tls .. "/secure -X POST")
    assert.equal("tls /secure", out)
    -- more on one TLS connection: the engine hands those to the
    -- 'stream' listener directly
    out = run("nghttp https://127.0.0.1:" .. tls .. "/s1 https://127.0.0.1:" .. tls .. "/s2 https://127.0.0.1:" .. tls .. "/s3")
    assert.truthy(out:find("tls /s1", 1, true) and out:find("tls /s3", 1, true), out)
    out = run("curl -sS --http2-prior-knowledge http://127.0.0.1:" .. quiet .. "/quiet")
    assert.equal("q", out)
    local got = log_lines(logfile, 8)
    os.execute("sleep 0.1") -- a line of the opted-out server would be there by now
    got = log_lines(logfile, 8)
    H.stop(proc)
    os.remove(app)
    os.remove(logfile)
    os.execute("rm -rf " .. dir)
    assert.equal(8, #got, "one line per request of the logging servers")
    local by_path = {}
    for _, e in ipairs(got) do by_path[e.path] = e end
    assert.is_table(by_path['/q"\\\u{e9}\u{ff}'], "the odd path, escaped as JSON (its last byte as U+00FF)")
    local a, b, h1, s = by_path["/a"], by_path['/b?x=%22'], by_path["/one"], by_path["/secure"]
    assert.is_table(a)
    assert.same({ "h2c", "GET", 200, 8 }, { a.protocol, a.method, a.status, a.bytes })
    assert.same({ "h2c", a.stream + 2, a.peerPort }, { b.protocol, b.stream, b.peerPort })
    assert.same({ "http/1.1", "GET", 200, 10 }, { h1.protocol, h1.method, h1.status, h1.bytes })
    assert.same({ "h2", "POST", 201, 11, 1 }, { s.protocol, s.method, s.status, s.bytes, s.stream })
    for _, p in ipairs({ "/s1", "/s2", "/s3" }) do
      local e = by_path[p]
      assert.same({ "h2", "GET", 201, 7 }, { e.protocol, e.method, e.status, e.bytes })
    end
    assert.equal(by_path["/s1"].peerPort, by_path["/s3"].peerPort)
    for _, e in ipairs(got) do
      assert.equal("127.0.0.1", e.peer)
      assert.is_number(e.peerPort)
      assert.is_true(e.duration >= 0)
      assert.truthy(e.time:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"), e.time)
    end
  end)

  it("--access-log - writes to standard output; the accessLog option takes a function", function()
    local app = script([[
      local http2 = require "http2"
      local seen = {}
      local s = http2.createServer({ accessLog = function(line) seen[#seen + 1] = line end })
      s:on("stream", function(stream, headers)
        stream:respond({ [":status"] = 404 })
        stream:finish()
      end)
      local o = http2.createServer()
      o:on("stream", function(stream) stream:respond({ [":status"] = 204 }) stream:finish() end)
      s:listen(0, "127.0.0.1", function()
        o:listen(0, "127.0.0.1", function()
          local c = http2.connect("http://127.0.0.1:" .. s:address().port)
          local r = c:request({ [":path"] = "/fn" })
          r:on("close", function()
            c:close()
            local c2 = http2.connect("http://127.0.0.1:" .. o:address().port)
            local r2 = c2:request({ [":path"] = "/dash" })
            r2:on("close", function()
              c2:close() s:close() o:close()
              require("h2lua").setTimeout(function() print("fn: " .. table.concat(seen, "|")) end, 50)
            end)
            r2:resume()
          end)
          r:resume()
        end)
      end)
    ]])
    local out, rc = run("timeout 20 " .. H.BIN .. " --access-log - " .. app)
    os.remove(app)
    assert.equal("0", rc, out)
    local fn = out:match("fn: ([^\n]*)")
    assert.is_not_nil(fn, out)
    local e = json.decode(fn)
    assert.same({ "/fn", 404, 0, "h2c" }, { e.path, e.status, e.bytes, e.protocol })
    local dash = out:match('(%b{})\n')
    assert.is_not_nil(dash, out)
    assert.equal("/dash", json.decode(dash).path)
    assert.equal(204, json.decode(dash).status)
  end)
end)

describe("the access log's settings", function()
  it("a bad accessLog raises; a file that cannot be opened fails at once", function()
    local out, rc = run(H.BIN .. [[ -e 'local http2 = require "http2"
      print(select(2, pcall(http2.createServer, { accessLog = 5 })).code)
      print(select(2, pcall(http2.createServer, { accessLog = "/nonexistent/dir/a.log" })).code)']])
    assert.equal("0", rc, out)
    assert.equal("ERR_INVALID_ARG_TYPE\nERR_INVALID_ARG_VALUE\n", out)
    out, rc = run(H.BIN .. " --access-log /nonexistent/dir/a.log -e 'print(1)'")
    assert.equal("1", rc)
    assert.truthy(out:match("^h2lua: %-%-access%-log: [^\n]*/nonexistent/dir/a%.log[^\n]*\n$"), out)
  end)
end)

describe("error lines", function()
  it("a handler's error names its request (method, path, stream id, peer); a table error shows its fields", function()
    local app = script([[
      local http2 = require "http2"
      local s = http2.createServer()
      s:on("stream", function(stream, headers)
        if headers[":path"] == "/table" then error({ code = "E_APP", why = "bad" }) end
        error("plain boom")
      end)
      local c = http2.createServer({ allowHTTP1 = true }, function(req, res) error("compat boom") end)
      s:listen(0, "127.0.0.1", function()
        c:listen(0, "127.0.0.1", function()
          print("ports " .. s:address().port .. " " .. c:address().port)
          io.stdout:flush()
        end)
      end)
    ]])
    local proc = H.start(app)
    finally(function() H.stop(proc) end)
    local ports = H.wait_output(proc, "(ports %d+ %d+)", 10)
    assert.is_not_nil(ports)
    local sp, cp = ports:match("(%d+) (%d+)")
    local codes = run("nghttp -v http://127.0.0.1:" .. sp .. "/plain http://127.0.0.1:" .. sp .. "/table")
    local _, n500 = codes:gsub(":status: 500", "")
    assert.equal(2, n500, codes)
    local id1, id2 = codes:match("recv %(stream_id=(%d+)%) :status: 500.-recv %(stream_id=(%d+)%) :status: 500")
    assert.is_not_nil(id1, codes)
    assert.equal("500", run("curl -s -o /dev/null -w '%{http_code}' --http1.1 http://127.0.0.1:" .. cp .. "/h1?q"))
    local err
    for _ = 1, 100 do
      err = H.readfile(proc.base .. ".err") or ""
      if err:find("compat boom", 1, true) then break end
      os.execute("sleep 0.02")
    end
    H.stop(proc)
    os.remove(app)
    local ids = { [id1] = true, [id2] = true }
    local pid = err:match("error in stream handler %(GET /plain, stream (%d+), peer 127%.0%.0%.1:%d+%): [^\n]*plain boom")
    assert.truthy(pid and ids[pid], err)
    local tid = err:match('error in stream handler %(GET /table, stream (%d+), peer 127%.0%.0%.1:%d+%): {code = "E_APP", why = "bad"}\n')
    assert.truthy(tid and ids[tid] and tid ~= pid, err)
    assert.truthy(err:find("error in stream handler %(GET /h1%?q, stream %d+, peer 127%.0%.0%.1:%d+%): [^\n]*compat boom"), err)
    assert.falsy(err:find("table: 0x", 1, true), err)
  end)
end)

describe("the program's command line", function()
  it("--help lists every option", function()
    local out, rc = run(H.BIN .. " --help")
    assert.equal("0", rc)
    for _, opt in ipairs({ "-e CODE", "--max-memory", "--cpu-budget", "--check", "--access-log",
                           "--log-level", "--trace", "--workers", "--version", "--help", "input" }) do
      assert.truthy(out:find(opt, 1, true), opt)
    end
  end)

  it("- runs the script from standard input, with its arguments", function()
    local out, rc = run("printf 'print(arg[0], ...)' | " .. H.BIN .. " - one two")
    assert.equal("0", rc)
    assert.equal("-\tone\ttwo\n", out)
  end)

  it("--check compiles without running: 0, or 1 with the compile error", function()
    local good = script("print('ran') require('http2').createServer():listen(0)")
    local out, rc = run(H.BIN .. " --check " .. good)
    assert.equal("0", rc)
    assert.equal("", out)
    local bad = script("local x = = 1\n")
    out, rc = run(H.BIN .. " --check " .. bad)
    assert.equal("1", rc)
    assert.truthy(out:find(bad:match("[^/]+$") .. ":1: unexpected symbol", 1, true), out)
    out, rc = run(H.BIN .. " --check /nonexistent/app.lua")
    assert.equal("1", rc)
    assert.truthy(out:find("cannot open", 1, true))
    os.remove(good)
    os.remove(bad)
  end)

  it("--log-level takes error, warn, info or debug (2 for anything else)", function()
    local out, rc = run(H.BIN .. " --log-level loud -e 'print(1)'")
    assert.equal("2", rc)
    assert.truthy(out:find("--log-level", 1, true))
    out, rc = run(H.BIN .. " --log-level debug -e 'print(1)'")
    assert.equal("0", rc)
    assert.equal("1\n", out)
  end)

  it("the first SIGTERM says how many streams drain; --log-level warn keeps it quiet", function()
    for _, level in ipairs({ "info", "warn" }) do
      local proc = H.start(nil, "--log-level " .. level .. " examples/slow.lua 0 600 100")
      finally(function() H.stop(proc) end)
      local port = H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 10)
      assert.is_not_nil(port)
      local body = os.tmpname()
      os.execute("curl -s -m 60 --http2-prior-knowledge http://127.0.0.1:" .. port .. "/ > " .. body .. " 2>&1 &")
      for _ = 1, 250 do
        if (H.readfile(body) or ""):find("part 1", 1, true) then break end
        os.execute("sleep 0.02")
      end
      os.execute("kill -TERM " .. proc.pid)
      local err
      for _ = 1, 100 do
        err = H.readfile(proc.base .. ".err") or ""
        if err:find("draining", 1, true) then break end
        os.execute("sleep 0.02")
      end
      if level == "warn" then os.execute("sleep 0.2") err = H.readfile(proc.base .. ".err") or "" end
      os.execute("kill -TERM " .. proc.pid)
      local status = H.status(proc, 5)
      H.stop(proc)
      os.remove(body)
      assert.equal(0, status)
      if level == "info" then
        assert.truthy(err:find("h2lua: draining 1 stream (signal again to stop now)\n", 1, true), err)
      else
        assert.equal("", err)
      end
    end
    -- nothing open: the program exits at once, with nothing to announce
    local proc = H.start(nil, "examples/slow.lua 0 600 100")
    finally(function() H.stop(proc) end)
    assert.is_not_nil(H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 10))
    os.execute("kill -TERM " .. proc.pid)
    assert.equal(0, H.status(proc, 5))
    local _, err = H.stop(proc)
    assert.falsy(err:find("draining", 1, true), err)
  end)
end)

describe("errors that end the program exit 1 with one line", function()
  it("listen on a taken port ('error' with no listener)", function()
    local app = script([[
      local http2 = require "http2"
      local a = http2.createServer()
      a:listen(0, "127.0.0.1", function()
        http2.createServer():listen(a:address().port, "127.0.0.1")
      end)
    ]])
    local out, rc = run("timeout 10 " .. H.BIN .. " " .. app)
    os.remove(app)
    assert.equal("1", rc)
    local l = lines(out)
    assert.equal(1, #l, out)
    assert.truthy(l[1]:match("^h2lua: uncaught error: .*listen EADDRINUSE: address already in use 127%.0%.0%.1:%d+$"), out)
  end)

  it("an error in a timer callback, and a table thrown there", function()
    local out, rc = run("timeout 10 " .. H.BIN .. [[ -e 'require("h2lua").setTimeout(function() error("tick boom") end, 5); require("h2lua").setInterval(function() end, 1000)']])
    assert.equal("1", rc)
    assert.truthy(lines(out)[1]:match("^h2lua: uncaught error in a timer callback: %(command line%):1: tick boom$"), out)
    out, rc = run("timeout 10 " .. H.BIN .. [[ -e 'require("h2lua").setTimeout(function() error({ code = "E_T", n = 2 }) end, 5)']])
    assert.equal("1", rc)
    assert.equal('h2lua: uncaught error in a timer callback: {code = "E_T", n = 2}\n', out)
  end)

  it("but a timer callback the CPU budget stopped is only logged", function()
    local out, rc = run("timeout 20 " .. H.BIN .. [[ --cpu-budget 100 -e 'local h = require("h2lua"); h.setTimeout(function() while true do end end, 1); h.setTimeout(function() print("after") end, 300)']])
    assert.equal("0", rc, out)
    assert.truthy(out:find("ERR_H2LUA_CPU_BUDGET", 1, true), out)
    assert.truthy(out:find("after\n", 1, true), out)
  end)

  it("an uncaught error in the main chunk", function()
    local out, rc = run(H.BIN .. [[ -e 'require("http2").createServer():listen(0); error("main boom")']])
    assert.equal("1", rc)
    assert.truthy(lines(out)[1]:match("^h2lua: error in the main chunk: %(command line%):1: main boom$"), out)
    out, rc = run(H.BIN .. [[ -e 'error({ reason = "x" })']])
    assert.equal("1", rc)
    assert.equal('h2lua: error in the main chunk: {reason = "x"}\n', out)
  end)
end)
