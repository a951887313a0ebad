-- h2lua.router against real clients: curl and nghttp over h2c, h2 over TLS
-- and HTTP/1.1, on the stream API and the Compatibility API; json.array and
-- query strings in-process; examples/todo-api.lua and every step of
-- docs/tutorial.md run as programs.
local H = require "helper"
local http2 = require "http2"
local router = require "h2lua.router"
local json = require "h2lua.json"

-- One app for every transport: what each test asks of the router.
local function make_app(log)
  local app = router.new({ maxBody = 1000, logErrors = false })
  app:use(function(req)
    log[#log + 1] = req.method .. " " .. req.path .. " " .. tostring(req.route)
    if req.path:find("^/private/") and req.headers.authorization ~= "Bearer ok" then
      return 401, { error = "no token" }, { ["www-authenticate"] = "Bearer" }
    end
  end)
  app:after(function(req, res)
    res.headers["x-after"] = tostring(res.status)
  end)
  app:get("/", function() return "hello\n" end)
  app:get("/users/new", function() return "the form\n" end)
  app:get("/users/:id", function(req) return { user = req.params.id } end)
  app:put("/users/:id", function(req) return { put = req.params.id } end)
  app:get("/users/:id/posts/:post", function(req)
    return req.params.id .. "/" .. req.params.post .. "\n"
  end)
  app:get("/files/*", function(req) return "rest=" .. req.params["*"] .. "\n" end)
  app:get("/private/data", function() return "secret\n" end)
  app:post("/echo", function(req)
    local v = req:json()
    return 201, { got = v, tags = json.array(v and v.tags or {}), none = json.empty_array },
      { location = "/echo/1" }
  end)
  app:get("/empty", function() return { items = json.empty_array, meta = {} } end)
  app:get("/query", function(req) return req.query end)
  app:get("/boom", function() error("kaboom") end)
  app:get("/hookfail", function() error("hookfail") end)
  app:get("/teapot", function() error(router.error(418, "short and stout")) end)
  app:get("/late", function(req)
    if req.stream then
      req.stream:respond({ [":status"] = 200 })
      req.stream:write("partial")
    else
      req.res:writeHead(200)
      req.res:write("partial")
    end
    error("after the headers")
  end)
  app:get("/self", function(req)
    if req.stream then
      req.stream:respond({ [":status"] = 202, ["x-self"] = "stream" })
      req.stream:finish("by myself\n")
    else
      req.res:writeHead(202, { ["x-self"] = "compat" })
      req.res:finish("by myself\n")
    end
  end)
  app:onError(function(req, err, traceback)
    if router.isHttpError(err) then
      if err.status == 418 then return 418, "I'm a teapot: " .. err.message .. "\n" end
      return nil -- the default answer
    end
    if tostring(err):find("hookfail") then error("the hook failed too") end
    log[#log + 1] = "hook: " .. tostring(err):match("kaboom") .. " " .. tostring(traceback ~= nil)
    return 503, { error = "try later" }, { ["retry-after"] = "1" }
  end)
  return app
end

local function stream_server(log, opts)
  local server = http2.createServer(opts)
  server:on("stream", make_app(log):stream())
  return server, H.listen(server)
end

local function compat_server(log)
  local server = http2.createServer({ allowHTTP1 = true }, make_app(log):request())
  return server, H.listen(server)
end

local CURL = { h2c = "curl -sS --http2-prior-knowledge", h1 = "curl -sS --http1.1" }

-- curl -i, split into status, headers (lower-case names) and body
local function get(proto, url, args)
  local rc, out, err = H.sh(CURL[proto] .. " -i " .. (args or "") .. " " .. H.shq(url))
  assert.equal(0, rc, err)
  local head, body = out:match("^(.-)\r\n\r\n(.*)$")
  assert.truthy(head, out)
  local status = tonumber(head:match("^HTTP/[%d.]+ (%d+)"))
  local h = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+): ([^\r\n]*)") do h[name:lower()] = value end
  return status, h, body
end

-- The JSON text's shape with sorted keys (python3's json keeps [] and {} apart)
local function canon(text)
  local path = os.tmpname()
  H.writefile(path, text)
  local rc, out, err = H.sh(H.PY .. " -c " .. H.shq(
    "import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))") .. " " .. path)
  os.remove(path)
  assert.equal(0, rc, err)
  return (out:gsub("\n$", ""))
end

-- The behaviours every transport must show.
local function check_routing(proto, base, log)
  local s, h, b = get(proto, base .. "/users/42")
  assert.equal(200, s)
  assert.equal('{"user":"42"}', b)
  assert.equal("application/json", h["content-type"])
  assert.equal("200", h["x-after"])
  assert.equal(tostring(#b), h["content-length"])
  -- static segments win over parameters; parameters are decoded per segment
  s, _, b = get(proto, base .. "/users/new")
  assert.equal(200, s)
  assert.equal("the form\n", b)
  s, _, b = get(proto, base .. "/users/a%2Fb%20c")
  assert.equal('{"user":"a/b c"}', b)
  s, _, b = get(proto, base .. "/users/7/posts/9")
  assert.equal("7/9\n", b)
  s, _, b = get(proto, base .. "/files/css/site%20main.css")
  assert.equal("rest=css/site main.css\n", b)
  s, _, b = get(proto, base .. "/files/")
  assert.equal(200, s)
  assert.equal("rest=\n", b)
  -- 404: nothing matches (a parameter takes no empty segment)
  s, h, b = get(proto, base .. "/nowhere")
  assert.equal(404, s)
  assert.equal('{"error":"Not Found"}', b)
  assert.equal("404", h["x-after"])
  s = get(proto, base .. "/users/")
  assert.equal(404, s)
  s = get(proto, base .. "/files")
  assert.equal(404, s)
  -- 405 with Allow: the methods of the matched path, HEAD from GET, OPTIONS
  s, h, b = get(proto, base .. "/users/42", "-X DELETE")
  assert.equal(405, s)
  assert.equal("GET, HEAD, OPTIONS, PUT", h.allow)
  assert.equal('{"error":"Method Not Allowed"}', b)
  s, h = get(proto, base .. "/users/42", "-X OPTIONS")
  assert.equal(204, s)
  assert.equal("GET, HEAD, OPTIONS, PUT", h.allow)
  -- HEAD from GET: GET's headers and length, no body
  s, h, b = get(proto, base .. "/users/42", "-I")
  assert.equal(200, s)
  assert.equal("13", h["content-length"])
  assert.equal("application/json", h["content-type"])
  assert.equal("", b)
  -- middleware: the early answer skips the handler; the route was matched first
  s, h, b = get(proto, base .. "/private/data")
  assert.equal(401, s)
  assert.equal('{"error":"no token"}', b)
  assert.equal("Bearer", h["www-authenticate"])
  assert.equal("401", h["x-after"])
  s, _, b = get(proto, base .. "/private/data", "-H 'authorization: Bearer ok'")
  assert.equal(200, s)
  assert.equal("secret\n", b)
  local seen = table.concat(log, "\n")
  assert.truthy(seen:find("GET /private/data /private/data", 1, true), seen)
  assert.truthy(seen:find("GET /users/42 /users/:id", 1, true), seen)
  -- the error hook: a handler's error, a router.error, the default for the rest
  s, h, b = get(proto, base .. "/boom")
  assert.equal(503, s)
  assert.equal('{"error":"try later"}', b)
  assert.equal("1", h["retry-after"])
  assert.equal("503", h["x-after"])
  assert.truthy(table.concat(log, "\n"):find("hook: kaboom true", 1, true))
  s, _, b = get(proto, base .. "/hookfail") -- a hook that fails: the default answer
  assert.equal(500, s)
  assert.equal('{"error":"internal server error"}', b)
  s, _, b = get(proto, base .. "/teapot")
  assert.equal(418, s)
  assert.equal("I'm a teapot: short and stout\n", b)
  -- a handler that answered by itself is left alone
  s, h, b = get(proto, base .. "/self")
  assert.equal(202, s)
  assert.equal("by myself\n", b)
  assert.is_nil(h["x-after"])
  -- JSON in and out; [] stays an array, {} an object
  local path = os.tmpname()
  H.writefile(path, '{"name":"ann","tags":[]}')
  s, h, b = get(proto, base .. "/echo", "-H 'content-type: application/json' --data-binary @" .. path)
  assert.equal(201, s)
  assert.equal("/echo/1", h.location)
  assert.equal('{"got": {"name": "ann", "tags": []}, "none": [], "tags": []}', canon(b))
  H.writefile(path, '{"tags":["a","b"]}')
  s, _, b = get(proto, base .. "/echo", "--data-binary @" .. path)
  assert.equal('{"got": {"tags": ["a", "b"]}, "none": [], "tags": ["a", "b"]}', canon(b))
  H.writefile(path, '{"name": oops')
  s, _, b = get(proto, base .. "/echo", "--data-binary @" .. path)
  assert.equal(400, s)
  assert.truthy(b:find('^{"error":"invalid JSON: '), b)
  H.writefile(path, '{"big":"' .. ("x"):rep(2000) .. '"}')
  s, _, b = get(proto, base .. "/echo", "--data-binary @" .. path)
  os.remove(path)
  assert.equal(413, s)
  assert.equal('{"error":"request body over 1000 bytes"}', b)
  s, _, b = get(proto, base .. "/empty")
  assert.equal('{"items": [], "meta": {}}', canon(b))
  -- query strings: repeated keys, percent-decoding, "+", keys without "="
  s, _, b = get(proto, base .. "/query?tag=a&q=caf%C3%A9+au+lait&tag=b%26c&flag&e=")
  assert.equal('{"e": "", "flag": "", "q": "caf\\u00e9 au lait", "tag": ["a", "b&c"]}', canon(b))
end

describe("h2lua.router", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("routes on the stream API over h2c with curl: params, wildcard, 404, 405 + Allow, HEAD, middleware, error hook, JSON, query", function()
    H.run(function()
      local log = {}
      local _, port = stream_server(log)
      check_routing("h2c", "http://127.0.0.1:" .. port, log)
    end)
  end)

  it("routes on the Compatibility API over h2c and HTTP/1.1 with curl", function()
    H.run(function()
      local log = {}
      local _, port = compat_server(log)
      check_routing("h2c", "http://127.0.0.1:" .. port, log)
      check_routing("h1", "http://127.0.0.1:" .. port, log)
      -- HTTP/1.1's HEAD: the length of GET's body, none sent, the connection reused
      local rc, out, err = H.sh("curl -sS -v --http1.1 -I http://127.0.0.1:" .. port ..
        "/users/42 http://127.0.0.1:" .. port .. "/")
      assert.equal(0, rc, err)
      assert.truthy(out:find("content-length: 13", 1, true), out)
      assert.truthy(err:find("Re-using existing connection", 1, true), err)
    end)
  end)

  it("answers nghttp with the 405's allow header and the HEAD without DATA", function()
    H.run(function()
      local _, port = stream_server({})
      local rc, out, err = H.sh("nghttp -nv -H ':method: DELETE' http://127.0.0.1:" .. port .. "/users/1")
      assert.equal(0, rc, err)
      assert.truthy(out:find(":status: 405", 1, true), out)
      assert.truthy(out:find("allow: GET, HEAD, OPTIONS, PUT", 1, true), out)
      rc, out, err = H.sh("nghttp -nv -H ':method: HEAD' http://127.0.0.1:" .. port .. "/users/1")
      assert.equal(0, rc, err)
      assert.truthy(out:find(":status: 200", 1, true), out)
      assert.truthy(out:find("content-length: 12", 1, true), out)
      assert.falsy(out:find("recv DATA frame", 1, true), out)
      assert.truthy(out:find("END_STREAM", 1, true), out)
    end)
  end)

  it("reads the rest of a small upload before an early answer, so that curl gets each of 20 answers", function()
    H.run(function()
      local _, port = stream_server({})
      local _, cport = compat_server({})
      local path = os.tmpname()
      H.writefile(path, '{"title":"' .. ("x"):rep(3000) .. '"}')
      -- without the drain, about one in six of these came back empty (curl 7.88)
      for _, p in ipairs({ port, cport }) do
        local rc, out, err = H.sh("for i in $(seq 1 20); do curl -sS -w ' %{http_code}\\n' --http2-prior-knowledge " ..
          "--data-binary @" .. path .. " http://127.0.0.1:" .. p .. "/private/data; done")
        assert.equal(0, rc, err)
        local _, n = out:gsub('{"error":"no token"} 401\n', "")
        assert.equal(20, n, out .. err)
      end
      os.remove(path)
      -- past 64 KiB the answer does not wait: the rest is refused with RST_STREAM(NO_ERROR)
      H.writefile(path, ("y"):rep(300000))
      local rc, out, err = H.sh("nghttp -nv -d " .. path .. " http://127.0.0.1:" .. port .. "/private/data")
      os.remove(path)
      assert.equal(0, rc, err)
      assert.truthy(out:find(":status: 401", 1, true), out)
      assert.truthy(out:find("recv RST_STREAM", 1, true), out)
      assert.truthy(out:find("error_code=NO_ERROR", 1, true), out)
    end)
  end)

  it("resets the stream when the handler fails after its headers were sent", function()
    H.run(function()
      local _, port = stream_server({})
      local rc, out = H.sh("nghttp -nv http://127.0.0.1:" .. port .. "/late")
      assert.truthy(out:find("recv RST_STREAM", 1, true), out)
      assert.truthy(out:find("error_code=INTERNAL_ERROR", 1, true), out)
      assert.is_not.equal(-1, rc)
      local _, cport = compat_server({})
      local rc2 = H.sh("curl -sS --http1.1 http://127.0.0.1:" .. cport .. "/late")
      assert.is_not.equal(0, rc2) -- the connection closed in the middle of the body
    end)
  end)

  it("serves h2 and HTTP/1.1 over TLS (ALPN) with curl", function()
    H.run(function()
      local dir = os.tmpname()
      local rc = H.sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes " ..
        "-keyout " .. dir .. ".key -out " .. dir .. ".crt -days 1 -subj /CN=localhost " ..
        "-addext subjectAltName=IP:127.0.0.1")
      assert.equal(0, rc)
      local key, cert = H.readfile(dir .. ".key"), H.readfile(dir .. ".crt")
      os.remove(dir .. ".key")
      os.remove(dir .. ".crt")
      local log = {}
      local tls = http2.createSecureServer({ key = key, cert = cert })
      tls:on("stream", make_app(log):stream())
      local port = H.listen(tls)
      local both = http2.createSecureServer({ key = key, cert = cert, allowHTTP1 = true },
        make_app(log):request())
      local port2 = H.listen(both)
      for _, case in ipairs({ { "--http2", port, "HTTP/2" }, { "--http2", port2, "HTTP/2" },
                              { "--http1.1", port2, "HTTP/1.1" } }) do
        local rc2, out, err = H.sh("curl -sSk -i " .. case[1] .. " https://127.0.0.1:" .. case[2] ..
          "/users/5 -X DELETE")
        assert.equal(0, rc2, err)
        assert.truthy(out:find("^" .. case[3]:gsub("%.", "%%.") .. " 405"), out)
        assert.truthy(out:lower():find("allow: get, head, options, put", 1, true), out)
        rc2, out, err = H.sh("curl -sSk " .. case[1] .. " https://127.0.0.1:" .. case[2] .. "/users/5")
        assert.equal(0, rc2, err)
        assert.equal('{"user":"5"}', out)
      end
    end)
  end)

  it("matches through a trie: precedence, backtracking, route conflicts refused", function()
    local app = router.new()
    local function h(name) return function() return name end end
    app:get("/a/:x/c", h("param-c"))
    app:get("/a/b/d", h("static-d"))
    app:get("/a/*rest", h("wild"))
    app:route({ "GET", "POST" }, "/m", h("m"))
    app:all("/any", h("any"))
    local f, p = app:match("GET", "/a/b/c") -- the static "b" leads nowhere: back to :x
    assert.equal("param-c", f())
    assert.same({ x = "b" }, p)
    f = app:match("GET", "/a/b/d")
    assert.equal("static-d", f())
    f, p = app:match("GET", "/a/b/e/f")
    assert.equal("wild", f())
    assert.same({ rest = "b/e/f" }, p)
    assert.equal("m", (app:match("POST", "/m"))())
    assert.equal("any", (app:match("PATCH", "/any"))())
    local _, code, allow = app:match("DELETE", "/m")
    assert.equal(405, code)
    assert.equal("GET, HEAD, OPTIONS, POST", allow)
    assert.same({ nil, 404 }, { app:match("GET", "/b") })
    assert.equal(5, #({ "/a/:x/c", "/a/b/d", "/a/*rest", "/m", "/any" }))
    assert.has_error(function() app:get("/a/:y/z", h("y")) end)
    assert.has_error(function() app:get("/a/*/z", h("y")) end)
    assert.has_error(function() app:get("no-slash", h("y")) end)
    assert.has_error(function() app:get("/x/:", h("y")) end)
  end)

  it("parses query strings and encodes json.array / json.empty_array as []", function()
    assert.same({ a = { "1", "2", "3" }, b = "x y", ["c d"] = "", e = "=" },
      router.parseQuery("a=1&b=x+y&a=2&c%20d&e=%3D&a=3"))
    assert.same({}, router.parseQuery(""))
    assert.same({ bad = "%zz" }, router.parseQuery("bad=%zz"))
    assert.equal("[]", json.encode(json.empty_array))
    assert.equal("[]", json.encode(json.array()))
    assert.equal("{}", json.encode({}))
    assert.equal('[1,2]', json.encode(json.array({ 1, 2 })))
    assert.equal('[null,2]', json.encode(json.array({ nil, 2 })))
    assert.equal('[{"a":[]},{}]', json.encode({ { a = json.empty_array }, {} }))
    assert.equal('{"x":{"y":[[]]}}', json.encode({ x = { y = { json.array() } } }))
    assert.equal('["a/b"]', json.encode(json.array({ "a/b" })))
    assert.has_error(function() json.empty_array[1] = 1 end)
    -- decoded empty arrays stay arrays; "[]" inside strings stays text
    assert.equal('[]', json.encode(json.decode(" [ ] ")))
    local v = json.decode('{"a":[],"b":"[]","c":[[ ],{}],"d":"q\\"[]","e":"\\\\"}')
    assert.equal("[]", json.encode(v.a))
    assert.equal("[]", v.b)
    assert.equal("[[],{}]", json.encode(v.c))
    assert.equal('q"[]', v.d)
    assert.equal("\\", v.e)
    assert.same({ nil, "Expected value but found T_END at character 1" }, { json.decode("") })
  end)
end)

-- docs/tutorial.md, run: each ```lua block is a program, started with the
-- h2lua program on a free port; each "$ command" of the ```console blocks
-- after it runs against it and must print what the page shows (JSON
-- compared with sorted keys). "<!-- program: PATH -->" names a program
-- of the repository instead (examples/todo-api.lua).
local CANON = [[
import json, sys
dec = json.JSONDecoder()
for line in sys.stdin.read().replace('\r', '').rstrip('\n').split('\n'):
    if line[:1] in ('{', '['):
        try:
            obj, end = dec.raw_decode(line)
            line = json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False) + line[end:]
        except ValueError:
            pass
    print(line)
]]

local function canon_lines(text)
  local inp, outp = os.tmpname(), os.tmpname()
  H.writefile(inp, text)
  assert(os.execute(H.PY .. " -c " .. H.shq(CANON) .. " < " .. inp .. " > " .. outp))
  local out = H.readfile(outp)
  os.remove(inp)
  os.remove(outp)
  return out
end

local function tutorial_steps(text)
  local steps, current = {}, nil
  local pos = 1
  while true do
    local s, e, lang, body = text:find("\n```(%w*)\n(.-)\n```", pos)
    local ps, pe, prog = text:find("\n<!%-%- program: (%S+) %-%->", pos)
    if ps and (not s or ps < s) then
      current = { file = prog, commands = {} }
      steps[#steps + 1] = current
      pos = pe + 1
    elseif not s then
      return steps
    else
      if lang == "lua" then
        current = { code = body, commands = {} }
        steps[#steps + 1] = current
      elseif lang == "console" then
        assert(current, "a console block before any program")
        local cmd
        for line in (body .. "\n"):gmatch("(.-)\n") do
          local c = line:match("^%$ (.*)$")
          if c then
            cmd = { cmd = c, expect = {} }
            current.commands[#current.commands + 1] = cmd
          else
            assert(cmd, "console output before any command: " .. line)
            cmd.expect[#cmd.expect + 1] = line
          end
        end
      end
      pos = e + 1
    end
  end
end

describe("docs/tutorial.md", function()
  it("runs every program of the tutorial and every command under it, examples/todo-api.lua with curl too", function()
    local steps = tutorial_steps(H.readfile("docs/tutorial.md"))
    assert.is_true(#steps >= 7)
    local ran = 0
    for i, step in ipairs(steps) do
      assert.is_true(#step.commands > 0, "step " .. i .. " shows no command to run")
      local file = step.file
      if step.code then
        file = os.tmpname() .. ".lua"
        H.writefile(file, step.code)
      end
      local proc = H.start(file, "0")
      local port = H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 10)
      local ok, failure = pcall(function()
        assert.truthy(port, "step " .. i .. " did not start: " .. (H.readfile(proc.base .. ".err") or ""))
        for _, c in ipairs(step.commands) do
          local cmd = c.cmd:gsub("127%.0%.0%.1:8080", "127.0.0.1:" .. port)
          local p = io.popen("timeout 20 sh -c " .. H.shq(cmd) .. " 2>&1")
          local out = p:read("a")
          p:close()
          local want = table.concat(c.expect, "\n") .. "\n"
          assert.equal(canon_lines(want), canon_lines(out), "step " .. i .. ": " .. c.cmd)
          ran = ran + 1
        end
      end)
      local _, err = H.stop(proc)
      if step.code then os.remove(file) end
      if not ok then error(tostring(failure) .. "\nserver stderr: " .. err, 0) end
      assert.equal("", err, "step " .. i .. " wrote to stderr")
    end
    assert.is_true(ran >= 30, "only " .. ran .. " commands ran")
  end)
end)

describe("h2lua.router in the h2lua program", function()
  it("logs a handler's error with its traceback on stderr and answers 500, the server going on", function()
    local file = os.tmpname() .. ".lua"
    H.writefile(file, [[
local http2 = require "http2"
local app = require("h2lua.router").new()
local function deep() error("broken on purpose") end
app:get("/boom", function() deep() end)
app:get("/ok", function() return "fine\n" end)
local server = http2.createServer()
server:on("stream", app:stream())
server:listen(0, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
end)
]])
    local proc = H.start(file, "")
    local port = H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 10)
    -- two curls: curl 7.88 loses a second URL on a reused h2c connection
    local out = ""
    for _, path in ipairs({ "/boom", "/ok" }) do
      local p = io.popen("curl -s -w ' %{http_code}' --http2-prior-knowledge http://127.0.0.1:" ..
        tostring(port) .. path)
      out = out .. p:read("a")
      p:close()
    end
    local _, err = H.stop(proc)
    os.remove(file)
    assert.equal('{"error":"internal server error"} 500fine\n 200', out)
    assert.truthy(err:find("h2lua.router: GET /boom: ", 1, true), err)
    assert.truthy(err:find("broken on purpose", 1, true), err)
    assert.truthy(err:find("stack traceback:", 1, true), err)
    assert.truthy(err:find("deep", 1, true), err) -- the traceback names the function that raised
  end)
end)
