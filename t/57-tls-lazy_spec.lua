-- OpenSSL is opened on first use (src/tlslib.c): a program that only
-- speaks h2c never maps libssl or libcrypto; its first TLS context maps
-- them and TLS then works; when they cannot be opened, making a TLS
-- server fails with ERR_NO_CRYPTO (Node's code when it has no OpenSSL)
-- and h2c goes on serving.
local H = require "helper"

local pki = H.pki()

-- An h2c server whose /tls makes a TLS server and answers its port, or
-- the error's code and message.
local APP = [[
local http2 = require "http2"
local key, cert = ...
local server = http2.createServer()
server:on("stream", function(stream, headers)
  if headers[":path"] == "/tls" then
    local ok, err = pcall(function()
      local tls = http2.createSecureServer({ key = key, cert = cert })
      tls:on("stream", function(s) s:respond({ [":status"] = 200 }); s:finish("secure") end)
      tls:listen(0, "127.0.0.1")
      return tls
    end)
    stream:respond({ [":status"] = ok and 200 or 500 })
    if ok then stream:finish(tostring(err:address().port))
    else stream:finish(tostring(err.code) .. " " .. tostring(err.message)) end
  else
    stream:respond({ [":status"] = 200 })
    stream:finish("plain")
  end
end)
server:listen(0, "127.0.0.1", function()
  print("port " .. server:address().port)
  io.stdout:flush()
end)
]]

local function maps(pid)
  local f = assert(io.open("/proc/" .. pid .. "/maps"))
  local s = f:read("a")
  f:close()
  return s
end

local function start(prefix)
  local script = os.tmpname() .. ".lua"
  local f = assert(io.open(script, "w"))
  f:write(APP)
  f:close()
  local proc = H.start(script, H.shq(pki.key("server")) .. " " .. H.shq(pki.pem("server")), prefix)
  proc.script = script
  local port = H.wait_output(proc, "port (%d+)")
  assert.truthy(port, "the server did not start")
  return proc, port
end

local function stop(proc)
  local out, err = H.stop(proc)
  os.remove(proc.script)
  return out, err
end

-- (no loop runs in this process: plain popen)
local function get(url, extra)
  local p = io.popen("curl -sS --max-time 5 " .. (extra or "--http2-prior-knowledge") .. " " .. url .. " 2>&1")
  local out = p:read("a")
  assert.truthy(p:close(), out)
  return out
end

describe("OpenSSL opened on first use", function()
  setup(function() pki.make() end)
  teardown(pki.remove)

  it("an h2c-only program never maps libssl or libcrypto; the first TLS server maps them and serves", function()
    local proc, port = start()
    assert.equal("plain", get("http://127.0.0.1:" .. port .. "/"))
    local m = maps(proc.pid)
    assert.falsy(m:find("libssl", 1, true), "libssl mapped before any TLS use")
    assert.falsy(m:find("libcrypto", 1, true), "libcrypto mapped before any TLS use")
    local tport = get("http://127.0.0.1:" .. port .. "/tls")
    assert.truthy(tport:match("^%d+$"), tport)
    m = maps(proc.pid)
    assert.truthy(m:find("libssl", 1, true))
    assert.truthy(m:find("libcrypto", 1, true))
    assert.equal("secure", get("https://localhost:" .. tport .. "/", "--http2 --cacert " .. pki.dir .. "/ca.pem"))
    assert.equal("plain", get("http://127.0.0.1:" .. port .. "/"))
    stop(proc)
  end)

  it("a libssl without its functions: createSecureServer raises ERR_NO_CRYPTO naming it, h2c serves on", function()
    -- a shared object named libssl.so.3 with none of OpenSSL's functions,
    -- found first through LD_LIBRARY_PATH
    local dir = os.tmpname() .. ".fake"
    assert(os.execute("mkdir -p " .. dir))
    assert.truthy(os.execute("echo 'int h2lua_fake;' | cc -shared -fPIC -x c -o " .. dir .. "/libssl.so.3 -"))
    local proc, port = start("LD_LIBRARY_PATH=" .. dir)
    local out = get("http://127.0.0.1:" .. port .. "/tls")
    assert.truthy(out:find("^ERR_NO_CRYPTO TLS is not available: libssl.so.3 has no SSL_"), out)
    assert.equal("plain", get("http://127.0.0.1:" .. port .. "/"))
    -- asked again, the same answer: the failure is remembered, not retried
    assert.equal(out, get("http://127.0.0.1:" .. port .. "/tls"))
    assert.truthy(H.running(proc))
    stop(proc)
    os.execute("rm -rf " .. dir)
  end)
end)
