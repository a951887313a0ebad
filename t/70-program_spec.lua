-- The h2lua program: options, arg, exit status, liveness, and the graceful
-- shutdown on SIGTERM/SIGINT.
local H = require "helper"

local run, script = H.exec, H.script

describe("h2lua program", function()
  it("-v prints the version, -h the usage", function()
    local out, rc = run(H.BIN .. " -v")
    assert.equal("0", rc)
    assert.truthy(out:match("^h2lua %d+%.%d+%.%d+ %(Lua 5%.4"))
    out, rc = run(H.BIN .. " -h")
    assert.equal("0", rc)
    assert.truthy(out:find("usage:", 1, true))
    out, rc = run(H.BIN .. " -x")
    assert.equal("2", rc)
  end)

  it("-e runs code in a coroutine, then the loop, and exits when idle", function()
    local out, rc = run(H.BIN .. [[ -e 'local h = require "h2lua"; h.sleep(20); h.setTimeout(function() print("timer") end, 10); print("main")']])
    assert.equal("0", rc)
    assert.equal("main\ntimer\n", out)
  end)

  it("gives the script its arguments in arg and ...", function()
    local path = script([[print(arg[0]:match("[^/]+$"), arg[1], arg[2], #arg, select("#", ...), ...)]])
    local out, rc = run(H.BIN .. " " .. path .. " one two")
    os.remove(path)
    assert.equal("0", rc)
    assert.equal(path:match("[^/]+$") .. "\tone\ttwo\t2\t2\tone\ttwo\n", out)
  end)

  it("exits 1 with a traceback when the main chunk raises", function()
    local path = script("local function f() error('main boom') end\nf()\n")
    local out, rc = run(H.BIN .. " " .. path)
    os.remove(path)
    assert.equal("1", rc)
    assert.truthy(out:find("main boom", 1, true))
    assert.truthy(out:find("stack traceback", 1, true))
    out, rc = run(H.BIN .. " /nonexistent/script.lua")
    assert.equal("1", rc)
    assert.truthy(out:find("cannot open", 1, true))
  end)

  it("an unref'd server does not keep the process alive", function()
    local out, rc = run(H.BIN .. [[ -e 'local s = require("http2").createServer(); s:listen(0, "127.0.0.1"); s:unref(); print("ok")']])
    assert.equal("0", rc)
    assert.equal("ok\n", out)
  end)

  it("SIGTERM lets a slow response finish, refuses new connections, exits 0", function()
    local proc = H.start("examples/slow.lua", "0 6 150")
    local port = H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 10)
    assert.is_not_nil(port, "server did not start")
    local body = os.tmpname()
    os.execute("curl -s --http2-prior-knowledge http://127.0.0.1:" .. port ..
      "/ > " .. body .. " 2>&1 &")
    -- wait for the first part, then ask the server to stop
    local first = false
    for _ = 1, 250 do
      if (H.readfile(body) or ""):find("part 1", 1, true) then first = true break end
      os.execute("sleep 0.02")
    end
    assert.is_true(first, "no first part")
    os.execute("kill -TERM " .. proc.pid)
    -- the signal is handled on the next loop turn: poll until refused
    local refused = false
    for _ = 1, 100 do
      if not os.execute("curl -s -m 2 --http2-prior-knowledge http://127.0.0.1:" .. port .. "/ >/dev/null 2>&1") then
        refused = true
        break
      end
      os.execute("sleep 0.02")
    end
    assert.is_true(refused)
    local status = H.status(proc, 10)
    local out, err = H.stop(proc)
    assert.equal(0, status, err)
    for _ = 1, 100 do
      if (H.readfile(body) or ""):find("done\n", 1, true) then break end
      os.execute("sleep 0.02")
    end
    local got = H.readfile(body)
    os.remove(body)
    assert.equal("part 1 of 6\npart 2 of 6\npart 3 of 6\npart 4 of 6\npart 5 of 6\npart 6 of 6\ndone\n", got)
    assert.truthy(out:find("listening", 1, true))
  end)

  it("a second signal ends the drain at once", function()
    local proc = H.start("examples/slow.lua", "0 100 200")
    local port = H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 10)
    assert.is_not_nil(port)
    local body = os.tmpname()
    os.execute("curl -s -m 10 --http2-prior-knowledge http://127.0.0.1:" .. port .. "/ > " .. body .. " 2>&1 &")
    -- the response has begun: the drain has a stream to wait for
    for _ = 1, 250 do
      if (H.readfile(body) or ""):find("part 1", 1, true) then break end
      os.execute("sleep 0.02")
    end
    os.remove(body)
    os.execute("kill -INT " .. proc.pid)
    os.execute("sleep 0.1")
    assert.is_true(H.running(proc))
    os.execute("kill -INT " .. proc.pid)
    local status = H.status(proc, 5)
    H.stop(proc)
    assert.equal(0, status)
  end)
end)

describe("examples/client.lua", function()
  it("GETs and POSTs like a tiny nghttp, and reports connection errors", function()
    local proc = H.start("examples/echo.lua", "0")
    local port = H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 10)
    assert.is_not_nil(port)
    local out, rc = run(H.BIN .. " examples/client.lua http://127.0.0.1:" .. port .. "/x -d 'posted body' -H 'content-type: text/x-test'")
    assert.equal("0", rc)
    assert.truthy(out:find("^:status: 200\n"))
    assert.truthy(out:find("content-type: text/x-test\n", 1, true))
    assert.truthy(out:find("\n\nposted body$"))
    out, rc = run(H.BIN .. " examples/client.lua http://127.0.0.1:1/")
    assert.equal("1", rc)
    assert.truthy(out:find("ECONNREFUSED", 1, true))
    H.stop(proc)
  end)
end)

describe("examples over TLS and both protocols", function()
  it("examples/both-protocols.lua answers JSON over h2 and http/1.1; tls.lua over h2", function()
    local dir = os.tmpname() .. ".pki"
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. dir .. " >/dev/null"))
    local proc = H.start("examples/both-protocols.lua", "0 " .. dir .. "/server.pem " .. dir .. "/server-key.pem")
    local port = H.wait_output(proc, "listening on https://localhost:(%d+)/", 10)
    assert.is_not_nil(port)
    local ca = " --cacert " .. dir .. "/ca.pem https://localhost:" .. port .. "/"
    local out = run("curl -sS --http2" .. ca)
    assert.truthy(out:find('"alpnProtocol":"h2"', 1, true), out)
    assert.truthy(out:find('"httpVersion":"2.0"', 1, true), out)
    out = run("curl -sS --http1.1" .. ca)
    assert.truthy(out:find('"alpnProtocol":"http/1.1"', 1, true), out)
    assert.truthy(out:find('"httpVersion":"1.1"', 1, true), out)
    H.stop(proc)
    local tls = H.start("examples/tls.lua", "0 " .. dir .. "/server.pem " .. dir .. "/server-key.pem")
    port = H.wait_output(tls, "listening on https://localhost:(%d+)/", 10)
    out = run("curl -sS --http2 --cacert " .. dir .. "/ca.pem https://localhost:" .. port .. "/")
    assert.truthy(out:find("^hello over h2, TLSv1.3"), out)
    H.stop(tls)
    os.execute("rm -rf " .. dir)
  end)

  it("examples/compat.lua: the same handler over h2c, HTTP/1.1 and Upgrade; JSON in and out", function()
    local proc = H.start("examples/compat.lua", "0")
    local port = H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 10)
    local base = " http://127.0.0.1:" .. port .. "/hi"
    assert.equal("hello /hi over HTTP/2.0\n", (run("curl -sS --http2-prior-knowledge" .. base)))
    assert.equal("hello /hi over HTTP/1.1\n", (run("curl -sS --http1.1" .. base)))
    assert.equal("hello /hi over HTTP/2.0\n", (run("curl -sS --http2" .. base)))
    local out = run("curl -sS --http2-prior-knowledge -d '{\"a\":[1,2]}'" .. base)
    assert.equal('{"received":{"a":[1,2]}}', out)
    out = run("curl -sS --http1.1 -d 'not json'" .. base)
    assert.truthy(out:find('"error"', 1, true))
    H.stop(proc)
  end)
end)
