-- h2lua.static and h2lua.compress against real clients: curl and nghttp
-- over h2c and HTTP/1.1 (and h2 over TLS once), h2load for a 1 GiB file,
-- python3 reading a gzip stream as it comes.
local H = require "helper"
local http2 = require "http2"
local static = require "h2lua.static"
local compress = require "h2lua.compress"

local ROOT, OUTSIDE

local function sh(cmd) assert(os.execute(cmd), cmd) end

-- The tree served: files of each kind, precompressed siblings, a symlink
-- that stays inside and one that leaves, a hidden file, a directory
-- without an index.
local function make_tree()
  local base = os.tmpname()
  os.remove(base)
  sh("mkdir -p " .. base .. "/root/sub " .. base .. "/root/noindex " .. base .. "/out")
  ROOT, OUTSIDE = base .. "/root", base .. "/out"
  local w = function(name, data) H.writefile(ROOT .. "/" .. name, data) end
  w("index.html", "<!doctype html><title>home</title>\n")
  w("style.css", "body { color: red }\n")
  w("data.json", '{"a":[]}\n')
  w("image.png", "\137PNG\r\n\26\n" .. H.bytes(3000, 7))
  w("blob.unknownext", "blob\n")
  w("sub/index.html", "<p>sub</p>\n")
  w(".env", "SECRET=1\n")
  local nums = {}
  for i = 1, 2000 do nums[#nums + 1] = ("%d\n"):format(i) end
  w("nums.txt", table.concat(nums))
  local js = ("console.log('static');\n"):rep(400)
  w("app.js", js)
  local br = compress.encoder("br", 11)
  w("app.js.br", br:finish(js))
  local gz = compress.encoder("gzip", 9)
  w("app.js.gz", gz:finish(js))
  w("only-gz.css", ("p { margin: 0 }\n"):rep(100))
  local gz2 = compress.encoder("gzip")
  w("only-gz.css.gz", gz2:finish(("p { margin: 0 }\n"):rep(100)))
  H.writefile(OUTSIDE .. "/secret.txt", "TOP SECRET\n")
  sh("ln -s " .. OUTSIDE .. "/secret.txt " .. ROOT .. "/escape.txt")
  sh("ln -s " .. OUTSIDE .. " " .. ROOT .. "/escapedir")
  sh("ln -s nums.txt " .. ROOT .. "/alias.txt")
  -- a sibling that leaves the root is not used either
  sh("ln -s " .. OUTSIDE .. "/secret.txt " .. ROOT .. "/data.json.br")
  return base
end

local function file(name) return H.readfile(ROOT .. "/" .. name) end

-- curl |args| URL -> status, headers (lower-case names; repeated ones
-- joined with ", "), body
local function curl(args, url)
  local hf, bf = os.tmpname(), os.tmpname()
  local rc, out, err = H.sh(("curl -s -S --path-as-is -D %s -o %s -w '%%{http_code}' %s %s")
    :format(hf, bf, args or "", H.shq(url)), 30)
  local head, body = H.readfile(hf) or "", H.readfile(bf) or ""
  os.remove(hf)
  os.remove(bf)
  assert(rc == 0, "curl failed: " .. tostring(err))
  local h = {}
  -- the last block (after a 100 or a redirect there is one per response)
  local last = head:match(".*\r\n\r\n(.-\r\n\r\n)$") or head
  for name, value in last:gmatch("([^:\r\n]+):%s*([^\r\n]*)\r\n") do
    name = name:lower()
    h[name] = h[name] and (h[name] .. ", " .. value) or value
  end
  return tonumber(out), h, body, head
end

-- The clients: curl over h2c (prior knowledge) and over HTTP/1.1.
local PROTOS = { { "h2c", "--http2-prior-knowledge" }, { "HTTP/1.1", "--http1.1" } }

-- A server with allowHTTP1 whose 'request' listener is |fn| (the
-- Compatibility API, which is what HTTP/1.1 requests reach), and one on
-- the stream API.
local function compat_server(fn)
  local server = http2.createServer({ allowHTTP1 = true })
  server:on("request", fn)
  return server, H.listen(server)
end

local function stream_server(fn)
  local server = http2.createServer()
  server:on("stream", fn)
  return server, H.listen(server)
end

local function base_of(port) return "http://127.0.0.1:" .. port end

describe("h2lua.static", function()
  local tree
  setup(function() tree = make_tree() end)
  teardown(function() if tree then os.execute("rm -rf " .. tree) end end)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("mime types from /etc/mime.types, index files, a directory without its / redirected, 404s: curl over h2c and HTTP/1.1, stream and Compatibility API", function()
    H.run(function()
      local _, cport = compat_server(static.serve(ROOT))
      local _, sport = stream_server(static.serve(ROOT))
      local want = {
        ["/"] = { 200, "text/html; charset=utf-8", "index.html" },
        ["/index.html"] = { 200, "text/html; charset=utf-8", "index.html" },
        ["/style.css"] = { 200, "text/css; charset=utf-8", "style.css" },
        ["/app.js"] = { 200, "text/javascript; charset=utf-8", "app.js" },
        ["/data.json"] = { 200, "application/json", "data.json" },
        ["/image.png"] = { 200, "image/png", "image.png" },
        ["/blob.unknownext"] = { 200, "application/octet-stream", "blob.unknownext" },
        ["/sub/"] = { 200, "text/html; charset=utf-8", "sub/index.html" },
        ["/alias.txt"] = { 200, "text/plain; charset=utf-8", "nums.txt" },
      }
      for _, port in ipairs({ cport, sport }) do
        for _, p in ipairs(PROTOS) do
          if not (port == sport and p[1] == "HTTP/1.1") then
            for path, w in pairs(want) do
              local status, h, body = curl(p[2], base_of(port) .. path)
              local what = p[1] .. " " .. path
              assert.equal(w[1], status, what)
              assert.equal(w[2], h["content-type"], what)
              assert.equal(file(w[3]), body, what)
              assert.equal(tostring(#body), h["content-length"], what)
              assert.equal("bytes", h["accept-ranges"], what)
            end
            local status, h = curl(p[2], base_of(port) .. "/sub?x=1")
            assert.equal(301, status)
            assert.equal("/sub/?x=1", h.location)
            -- "//host" stays a path: no redirect to another site
            status, h = curl(p[2], base_of(port) .. "//sub")
            assert.equal(301, status)
            assert.equal("/sub/", h.location)
            for _, path in ipairs({ "/nope.html", "/noindex/", "/.env", "/sub/nope/" }) do
              assert.equal(404, (curl(p[2], base_of(port) .. path)), p[1] .. " " .. path)
            end
            status, h = curl(p[2] .. " -X POST", base_of(port) .. "/index.html")
            assert.equal(405, status)
            assert.equal("GET, HEAD", h.allow)
          end
        end
      end
    end)
  end)

  it("mime types from a built-in table when the file is missing; handler() falls through (false) for what it does not serve", function()
    local t = static.mime_types("/nonexistent/mime.types")
    assert.equal("text/css", t.css)
    assert.equal("text/html", static.mime_type("A.HTML", t))
    assert.equal("application/gzip", static.mime_type("x.tar.gz"))
    assert.is_nil(static.mime_type(".bashrc"))
    H.run(function()
      local serve = static.handler(ROOT, { prefix = "/static" })
      local _, port = compat_server(function(req, res)
        if not serve(req, res) then
          res:writeHead(418, { ["content-type"] = "text/plain" })
          res:finish("fell through " .. req.method .. " " .. req.url)
        end
      end)
      for _, p in ipairs(PROTOS) do
        local status, h, body = curl(p[2], base_of(port) .. "/static/style.css")
        assert.equal(200, status)
        assert.equal("text/css; charset=utf-8", h["content-type"])
        assert.equal(file("style.css"), body)
        status, _, body = curl(p[2], base_of(port) .. "/static/nope.css")
        assert.equal(418, status)
        assert.equal("fell through GET /static/nope.css", body)
        status, _, body = curl(p[2], base_of(port) .. "/staticx/style.css")
        assert.equal(418, status)
        status, _, body = curl(p[2] .. " -X DELETE", base_of(port) .. "/static/style.css")
        assert.equal(418, status)
        assert.equal("fell through DELETE /static/style.css", body)
      end
    end)
  end)

  it("Range: single ranges answered 206 with Content-Range, 416 with bytes */size when unsatisfiable, several ranges or bad syntax: the whole file; If-Range", function()
    H.run(function()
      local _, port = compat_server(static.serve(ROOT))
      local nums = file("nums.txt")
      local size = #nums
      for _, p in ipairs(PROTOS) do
        local url = base_of(port) .. "/nums.txt"
        local cases = {
          { "bytes=0-9", 206, 0, 9 }, { "bytes=100-", 206, 100, size - 1 },
          { "bytes=-5", 206, size - 5, size - 1 }, { "bytes=10-99999", 206, 10, size - 1 },
          { "bytes=-99999", 206, 0, size - 1 },
        }
        for _, c in ipairs(cases) do
          local status, h, body = curl(p[2] .. " -H " .. H.shq("Range: " .. c[1]), url)
          local what = p[1] .. " " .. c[1]
          assert.equal(c[2], status, what)
          assert.equal(("bytes %d-%d/%d"):format(c[3], c[4], size), h["content-range"], what)
          assert.equal(nums:sub(c[3] + 1, c[4] + 1), body, what)
          assert.equal(tostring(c[4] - c[3] + 1), h["content-length"], what)
        end
        for _, r in ipairs({ "bytes=" .. size .. "-", "bytes=99999-100000", "bytes=-0" }) do
          local status, h, body = curl(p[2] .. " -H " .. H.shq("Range: " .. r), url)
          assert.equal(416, status, p[1] .. " " .. r)
          assert.equal("bytes */" .. size, h["content-range"])
          assert.equal("", body)
        end
        for _, r in ipairs({ "bytes=0-1,5-6", "bytes=9-2", "items=0-1", "bytes=x-" }) do
          local status, h, body = curl(p[2] .. " -H " .. H.shq("Range: " .. r), url)
          assert.equal(200, status, p[1] .. " " .. r)
          assert.is_nil(h["content-range"])
          assert.equal(nums, body)
        end
        local _, h = curl(p[2], url)
        local status, _, body = curl(p[2] .. " -H 'Range: bytes=0-3' -H " .. H.shq("If-Range: " .. h.etag), url)
        assert.equal(206, status)
        assert.equal("1\n2\n", body)
        status, _, body = curl(p[2] .. " -H 'Range: bytes=0-3' -H " .. H.shq("If-Range: " .. h["last-modified"]), url)
        assert.equal(206, status)
        status, _, body = curl(p[2] .. " -H 'Range: bytes=0-3' -H 'If-Range: \"other\"'", url)
        assert.equal(200, status)
        assert.equal(nums, body)
      end
      -- nghttp over h2c: a range, then one past the end
      local url = base_of(port) .. "/nums.txt"
      local rc, out = H.sh("nghttp -v -H 'range: bytes=10-19' " .. H.shq(url), 20)
      assert.equal(0, rc, out)
      assert.truthy(out:find(":status: 206", 1, true), out)
      assert.truthy(out:find(("content-range: bytes 10-19/%d"):format(size), 1, true), out)
      rc, out = H.sh("nghttp -H 'range: bytes=10-19' " .. H.shq(url), 20)
      assert.equal(nums:sub(11, 20), out)
      rc, out = H.sh("nghttp -v -H 'range: bytes=99999-' " .. H.shq(url), 20)
      assert.truthy(out:find(":status: 416", 1, true), out)
      assert.truthy(out:find("content-range: bytes */" .. size, 1, true), out)
    end)
  end)

  it("304 both ways: If-None-Match (weak comparison, lists, *) and If-Modified-Since; a changed file, another tag or an older date get 200", function()
    H.run(function()
      local _, port = compat_server(static.serve(ROOT, { maxAge = 60 }))
      H.writefile(ROOT .. "/changing.txt", "version 1\n")
      for _, p in ipairs(PROTOS) do
        local url = base_of(port) .. "/style.css"
        local status, h = curl(p[2], url)
        assert.equal(200, status)
        local etag, lm = h.etag, h["last-modified"]
        assert.truthy(etag:match('^"[%x%-]+"$'), etag)
        assert.truthy(lm:match("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$"), lm)
        assert.equal("public, max-age=60", h["cache-control"])
        for _, inm in ipairs({ etag, "W/" .. etag, '"x", ' .. etag, "*" }) do
          local s2, h2, body = curl(p[2] .. " -H " .. H.shq("If-None-Match: " .. inm), url)
          assert.equal(304, s2, p[1] .. " " .. inm)
          assert.equal("", body)
          assert.equal(etag, h2.etag)
          assert.equal(lm, h2["last-modified"])
        end
        local s3, _, b3 = curl(p[2] .. " -H " .. H.shq("If-Modified-Since: " .. lm), url)
        assert.equal(304, s3)
        assert.equal("", b3)
        s3 = curl(p[2] .. " -H 'If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT'", url)
        assert.equal(200, s3)
        s3 = curl(p[2] .. " -H 'If-None-Match: \"other\"'", url)
        assert.equal(200, s3)
        -- If-None-Match wins over If-Modified-Since
        s3 = curl(p[2] .. " -H 'If-None-Match: \"other\"' -H " .. H.shq("If-Modified-Since: " .. lm), url)
        assert.equal(200, s3)
        -- the tag follows the file
        local curl_c = base_of(port) .. "/changing.txt"
        local _, hc = curl(p[2], curl_c)
        H.writefile(ROOT .. "/changing.txt", "version 22\n")
        local s4, h4, b4 = curl(p[2] .. " -H " .. H.shq("If-None-Match: " .. hc.etag), curl_c)
        assert.equal(200, s4)
        assert.equal("version 22\n", b4)
        assert.are_not.equal(hc.etag, h4.etag)
        H.writefile(ROOT .. "/changing.txt", "version 1\n")
      end
    end)
  end)

  it("HEAD: the headers GET has (length, type, tag, encoding), no body", function()
    H.run(function()
      local _, port = compat_server(static.serve(ROOT))
      for _, p in ipairs(PROTOS) do
        local _, g = curl(p[2], base_of(port) .. "/nums.txt")
        local status, h, body, head = curl(p[2] .. " -I", base_of(port) .. "/nums.txt")
        assert.equal(200, status)
        assert.equal(head, body) -- what curl -I prints: the headers alone
        assert.equal(g["content-length"], h["content-length"])
        assert.equal(g["content-type"], h["content-type"])
        assert.equal(g.etag, h.etag)
        status, h = curl(p[2] .. " -I -H 'Accept-Encoding: br'", base_of(port) .. "/app.js")
        assert.equal(200, status)
        assert.equal("br", h["content-encoding"])
        assert.equal(tostring(#file("app.js.br")), h["content-length"])
      end
    end)
  end)

  it("precompressed .br/.gz siblings chosen by Accept-Encoding (q-values, *), with Vary and content-encoding; curl --compressed decodes the original", function()
    H.run(function()
      local _, cport = compat_server(static.serve(ROOT))
      local _, sport = stream_server(static.serve(ROOT))
      local js = file("app.js")
      for _, port in ipairs({ cport, sport }) do
        for _, p in ipairs(PROTOS) do
          if not (port == sport and p[1] == "HTTP/1.1") then
            local url = base_of(port) .. "/app.js"
            local cases = {
              { "br, gzip", "br", "app.js.br" }, { "gzip, deflate", "gzip", "app.js.gz" },
              { "gzip;q=1, br;q=0.5", "gzip", "app.js.gz" }, { "br;q=0, gzip;q=0", nil, "app.js" },
              { "identity", nil, "app.js" }, { "*", "br", "app.js.br" }, { "*, br;q=0", "gzip", "app.js.gz" },
            }
            for _, c in ipairs(cases) do
              local status, h, body = curl(p[2] .. " -H " .. H.shq("Accept-Encoding: " .. c[1]), url)
              local what = p[1] .. " " .. c[1]
              assert.equal(200, status, what)
              assert.equal(c[2], h["content-encoding"], what)
              assert.equal("accept-encoding", h.vary, what)
              assert.equal("text/javascript; charset=utf-8", h["content-type"], what)
              assert.equal(file(c[3]), body, what)
            end
            local status, h, body = curl(p[2], url) -- no Accept-Encoding
            assert.equal(200, status)
            assert.is_nil(h["content-encoding"])
            assert.equal(js, body)
            status, h, body = curl(p[2] .. " --compressed", url)
            assert.equal("br", h["content-encoding"])
            assert.equal(js, body)
            -- only a .gz: br clients get identity
            status, h, body = curl(p[2] .. " -H 'Accept-Encoding: br'", base_of(port) .. "/only-gz.css")
            assert.is_nil(h["content-encoding"])
            assert.equal("accept-encoding", h.vary)
            assert.equal(file("only-gz.css"), body)
            status, h, body = curl(p[2] .. " --compressed", base_of(port) .. "/only-gz.css")
            assert.equal("gzip", h["content-encoding"])
            assert.equal(file("only-gz.css"), body)
            -- a sibling that is a symlink out of the root is not used
            status, h, body = curl(p[2] .. " -H 'Accept-Encoding: br'", base_of(port) .. "/data.json")
            assert.equal(200, status)
            assert.is_nil(h["content-encoding"])
            assert.equal(file("data.json"), body)
            -- the variants have tags of their own
            local _, hb = curl(p[2] .. " -H 'Accept-Encoding: br'", url)
            local _, hi = curl(p[2], url)
            assert.are_not.equal(hb.etag, hi.etag)
            status = curl(p[2] .. " -H 'Accept-Encoding: br' -H " .. H.shq("If-None-Match: " .. hb.etag), url)
            assert.equal(304, status)
            status = curl(p[2] .. " -H 'Accept-Encoding: gzip' -H " .. H.shq("If-None-Match: " .. hb.etag), url)
            assert.equal(200, status)
          end
        end
      end
    end)
  end)

  it("refuses what leaves the root: '..', %2e%2e, %2E%2e%2f, NUL / %00, bad escapes, symlinks out (file and directory); curl and nghttp, nothing outside is sent", function()
    H.run(function()
      local _, cport = compat_server(static.serve(ROOT))
      local _, sport = stream_server(static.serve(ROOT))
      local attempts = {
        { "/../out/secret.txt", 403 }, { "/sub/../../out/secret.txt", 403 },
        { "/%2e%2e/out/secret.txt", 403 }, { "/%2E%2e%2fout%2fsecret.txt", 403 },
        { "/sub/%2e%2e/%2e%2e/out/secret.txt", 403 }, { "/..%2f..%2fout/secret.txt", 403 },
        { "/.%2e/out/secret.txt", 403 }, { "/escape.txt", 403 }, { "/escapedir/secret.txt", 403 },
        { "/nums.txt%00.html", 400 }, { "/%00", 400 }, { "/bad%zz", 400 }, { "/bad%2", 400 },
      }
      for _, port in ipairs({ cport, sport }) do
        for _, p in ipairs(PROTOS) do
          if not (port == sport and p[1] == "HTTP/1.1") then
            for _, a in ipairs(attempts) do
              local status, _, body = curl(p[2], base_of(port) .. a[1])
              assert.equal(a[2], status, p[1] .. " " .. a[1])
              assert.is_falsy(body:find("SECRET", 1, true), a[1])
            end
          end
        end
        -- nghttp sends the path as it is given
        for _, a in ipairs(attempts) do
          local rc, out = H.sh("nghttp -v " .. H.shq(base_of(port) .. a[1]), 20)
          assert.equal(0, rc, out)
          assert.truthy(out:find(":path: " .. a[1], 1, true), out)
          assert.truthy(out:find(":status: " .. a[2], 1, true), a[1] .. "\n" .. out)
          assert.is_falsy(out:find("TOP SECRET", 1, true))
        end
      end
      -- a raw NUL in the path (HTTP/2 carries it; h2 rejects it as a
      -- malformed field, HTTP/1.1's parser as a bad request line), and the
      -- handler itself refuses it when it gets it
      local h = { [":method"] = "GET", [":path"] = "/nums.txt\0.html" }
      local answered
      local fake = { destroyed = false, headersSent = false,
        respond = function(_, hh) answered = hh[":status"] end }
      assert.is_true(static.handler(ROOT)(fake, h))
      assert.equal(400, answered)
    end)
  end)

  it("h2 over TLS (ALPN h2): a file, a range, a 304, a precompressed sibling", function()
    local pki = os.tmpname() .. ".pki"
    sh("mkdir -p " .. pki .. " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes " ..
      "-keyout " .. pki .. "/key.pem -out " .. pki .. "/cert.pem -subj /CN=localhost -days 2 2>/dev/null")
    H.run(function()
      local server = http2.createSecureServer({ allowHTTP1 = true,
        key = H.readfile(pki .. "/key.pem"), cert = H.readfile(pki .. "/cert.pem") })
      server:on("request", static.serve(ROOT))
      local port = H.listen(server)
      local url = "https://127.0.0.1:" .. port
      local status, h, body = curl("-k --http2", url .. "/nums.txt")
      assert.equal(200, status)
      assert.equal(file("nums.txt"), body)
      status, h, body = curl("-k --http2 -H 'Range: bytes=2-5'", url .. "/nums.txt")
      assert.equal(206, status)
      assert.equal(file("nums.txt"):sub(3, 6), body)
      local _, g = curl("-k --http2", url .. "/nums.txt")
      status = curl("-k --http2 -H " .. H.shq("If-None-Match: " .. g.etag), url .. "/nums.txt")
      assert.equal(304, status)
      status, h, body = curl("-k --http2 --compressed", url .. "/app.js")
      assert.equal("br", h["content-encoding"])
      assert.equal(file("app.js"), body)
      local rc, out = H.sh("curl -sk --http2 -o /dev/null -w '%{http_version}' " .. url .. "/")
      assert.equal(0, rc)
      assert.equal("2", out)
    end)
    os.execute("rm -rf " .. pki)
  end)

  it("examples/static.lua serves a directory and compresses its dynamic route", function()
    H.run(function()
      local proc = H.start("examples/static.lua", "0 " .. H.shq(ROOT))
      local port = tonumber(H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 10))
      assert.truthy(port, "the example did not start")
      local status, h, body = curl("--http2-prior-knowledge", base_of(port) .. "/style.css")
      assert.equal(200, status)
      assert.equal("text/css; charset=utf-8", h["content-type"])
      assert.equal(file("style.css"), body)
      status, h, body = curl("--compressed", base_of(port) .. "/api/lines")
      assert.equal(200, status)
      assert.equal("br", h["content-encoding"])
      assert.truthy(body:find("line 1000 of a dynamic answer\n$"), body:sub(-60))
      status = curl("", base_of(port) .. "/nope")
      assert.equal(404, status)
      H.stop(proc)
    end)
  end)

  it("a 1 GiB sparse file to h2load over h2c and curl over HTTP/1.1: every byte, server RSS grows < 8 MiB", function()
    local dir = os.tmpname()
    os.remove(dir)
    sh("mkdir -p " .. dir .. " && truncate -s 1G " .. dir .. "/big.bin")
    -- under make check-asan, the server keeps no quarantine: ASan's 8 MiB
    -- of freed blocks held back would be the whole bound, and are not the
    -- engine's memory
    local asan = os.getenv("ASAN_OPTIONS")
    local prefix = asan and ("ASAN_OPTIONS=" .. H.shq(asan .. ":quarantine_size_mb=0")) or nil
    H.run(function()
      local proc = H.start(nil, "-e " .. H.shq(([[
        local http2 = require "http2"
        local s = http2.createServer({ allowHTTP1 = true })
        s:on("request", require("h2lua.static").serve(%q))
        s:listen(0, "127.0.0.1", function() print("listening " .. s:address().port) io.stdout:flush() end)
      ]]):format(dir)), prefix)
      local port = tonumber(H.wait_output(proc, "listening (%d+)", 10))
      assert.truthy(port, "the server did not start")
      local function rss()
        local s = H.readfile("/proc/" .. proc.pid .. "/status") or ""
        return tonumber(s:match("VmRSS:%s*(%d+)"))
      end
      local before, peak = rss(), 0
      local done = false
      require("h2lua").spawn(function()
        while not done do
          local r = rss()
          if r and r > peak then peak = r end
          require("h2lua").sleep(20)
        end
      end)
      local rc, out = H.sh("h2load -n 1 -c 1 " .. base_of(port) .. "/big.bin", 120)
      local rc2, out2 = H.sh("curl -s --http1.1 -o /dev/null -w '%{http_code} %{size_download}' " ..
        base_of(port) .. "/big.bin", 120)
      done = true
      local after = rss()
      H.stop(proc)
      assert.equal(0, rc, out)
      assert.truthy(out:find("1 succeeded, 0 failed", 1, true), out)
      assert.truthy(out:find("(1073741824) data", 1, true), out)
      assert.equal(0, rc2)
      assert.equal("200 1073741824", out2)
      peak = math.max(peak, after or 0)
      assert.truthy(before and peak > 0, "no RSS read")
      assert.is_true(peak - before < 8 * 1024, ("server RSS grew from %d to %d kB"):format(before, peak))
    end, 300000)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("h2lua.static and h2lua.compress under valgrind", function()
  it("files (whole, in pieces, ranges, 304, siblings, refusals, a transfer cut short) and compressed streams leak nothing and touch no freed memory", function()
    local dir = os.tmpname()
    os.remove(dir)
    sh("mkdir -p " .. dir)
    local big = H.bytes(3 * 1024 * 1024 + 17, 5)
    H.writefile(dir .. "/big.bin", big)
    H.writefile(dir .. "/a.js", ("var a = 1;\n"):rep(500))
    H.writefile(dir .. "/a.js.gz", compress.encoder("gzip"):finish(("var a = 1;\n"):rep(500)))
    local log, app = os.tmpname(), os.tmpname() .. ".lua"
    H.writefile(app, ([[
      local http2 = require "http2"
      local static = require "h2lua.static"
      local compress = require "h2lua.compress"
      local files = static.handler(%q)
      local server = http2.createServer({ allowHTTP1 = true })
      server:on("request", function(req, res)
        if req.url == "/z" then
          res = compress.wrap(res)
          res:setHeader("content-type", "text/plain")
          for i = 1, 200 do
            if not res:write(("row %%d\n"):format(i):rep(50)) then res:wait("drain") end
          end
          return res:finish()
        end
        if not files(req, res) then res:writeHead(404) res:finish() end
      end)
      server:listen(0, "127.0.0.1", function()
        print("listening on http://127.0.0.1:" .. server:address().port .. "/")
        io.stdout:flush()
      end)
    ]]):format(dir))
    local proc = H.start(app, "", string.format(H.VALGRIND, log))
    local port = H.wait_output(proc, "listening on http://127.0.0.1:(%d+)/", 60)
    assert.is_not_nil(port, "server did not start under valgrind")
    local base = "http://127.0.0.1:" .. port
    local function run(cmd)
      local p = io.popen(cmd .. " 2>/dev/null")
      local out = p:read("a")
      p:close()
      return out
    end
    for _, proto in ipairs({ "--http2-prior-knowledge", "--http1.1" }) do
      local c = "curl -s " .. proto .. " "
      assert.equal(H.sha256(big), run(c .. base .. "/big.bin | sha256sum"):match("^(%x+)"))
      assert.equal(big:sub(300001, 900000), run(c .. "-H 'Range: bytes=300000-899999' " .. base .. "/big.bin"))
      local etag = run(c .. "-D - -o /dev/null " .. base .. "/big.bin"):match("etag: ([^\r\n]+)")
      assert.equal("304", run(c .. "-o /dev/null -w '%{http_code}' -H " .. H.shq("If-None-Match: " .. etag) ..
        " " .. base .. "/big.bin"))
      assert.equal(("var a = 1;\n"):rep(500), run(c .. "--compressed " .. base .. "/a.js"))
      assert.equal("403", run(c .. "--path-as-is -o /dev/null -w '%{http_code}' " .. base .. "/%2e%2e/x"))
      local z = run(c .. "--compressed " .. base .. "/z")
      assert.truthy(z:find("row 200\n$"), z:sub(-40))
      run(c .. "-H 'Accept-Encoding: gzip' " .. base .. "/z | gunzip > /dev/null")
      -- the client goes away in the middle of a file and of a compressed stream
      run(c .. "--limit-rate 200k --max-time 1 -o /dev/null " .. base .. "/big.bin")
      run(c .. "--compressed --limit-rate 2k --max-time 1 -o /dev/null " .. base .. "/z")
    end
    os.execute("kill -TERM " .. proc.pid)
    local status = H.status(proc, 60)
    H.stop(proc)
    local report = H.readfile(log) or ""
    os.remove(log)
    os.remove(app)
    os.execute("rm -rf " .. dir)
    assert.equal(0, status, report)
    H.assert_valgrind_clean(report)
  end)
end)

describe("h2lua.compress", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  local TEXT = {}
  for i = 1, 3000 do TEXT[#TEXT + 1] = ("line %d of a dynamic response\n"):format(i) end
  TEXT = table.concat(TEXT)

  -- The same app on both APIs: /text (text/plain, written in 3000
  -- writes), /png (image/png), /json, /small (a content-length below
  -- minSize), /nt (cache-control: no-transform), /nobody (204).
  local function lines(w)
    for line in TEXT:gmatch("[^\n]*\n") do w(line) end
  end
  local function compat_app(req, res)
    res = compress.wrap(res)
    local path = req.url
    if path == "/text" then
      res:setHeader("content-type", "text/plain")
      res:setHeader("etag", '"v1"')
      lines(function(l) res:write(l) end)
      res["end"](res)
    elseif path == "/json" then
      res:writeHead(200, { ["content-type"] = "application/json", vary = "origin" })
      res:finish('{"list":[' .. ("1,"):rep(500) .. '1]}')
    elseif path == "/png" then
      res:writeHead(200, { ["content-type"] = "image/png" })
      res:finish(("\0PNG"):rep(1000))
    elseif path == "/small" then
      res:writeHead(200, { ["content-type"] = "text/plain", ["content-length"] = 5 })
      res:finish("small")
    elseif path == "/nt" then
      res:writeHead(200, { ["content-type"] = "text/plain", ["cache-control"] = "no-transform" })
      res:finish(TEXT)
    else
      res:writeHead(204)
      res:finish()
    end
  end
  local function stream_app(stream, headers)
    stream = compress.wrap(stream, headers)
    local path = headers[":path"]
    if path == "/text" then
      stream:respond({ [":status"] = 200, ["content-type"] = "text/plain", etag = '"v1"' })
      lines(function(l) stream:write(l) end)
      stream["end"](stream)
    elseif path == "/json" then
      stream:respond({ [":status"] = 200, ["content-type"] = "application/json", vary = "origin" })
      stream:finish('{"list":[' .. ("1,"):rep(500) .. '1]}')
    elseif path == "/png" then
      stream:respond({ [":status"] = 200, ["content-type"] = "image/png" })
      stream:finish(("\0PNG"):rep(1000))
    elseif path == "/small" then
      stream:respond({ [":status"] = 200, ["content-type"] = "text/plain", ["content-length"] = 5 })
      stream:finish("small")
    elseif path == "/nt" then
      stream:respond({ [":status"] = 200, ["content-type"] = "text/plain", ["cache-control"] = "no-transform" })
      stream:finish(TEXT)
    else
      stream:respond({ [":status"] = 204 })
    end
  end
  local JSON = '{"list":[' .. ("1,"):rep(500) .. '1]}'

  it("curl --compressed gets br, gzip when it asks for gzip only; the decoded body equals the original; Vary, no content-length, a weak ETag; stream and Compatibility API over h2c and HTTP/1.1", function()
    H.run(function()
      local _, cport = compat_server(compat_app)
      local _, sport = stream_server(stream_app)
      for _, port in ipairs({ cport, sport }) do
        for _, p in ipairs(PROTOS) do
          if not (port == sport and p[1] == "HTTP/1.1") then
            local url = base_of(port) .. "/text"
            for _, c in ipairs({ { "--compressed", "br" }, { "--compressed -H 'Accept-Encoding: gzip'", "gzip" },
                                 { "--compressed -H 'Accept-Encoding: br;q=0.1, gzip;q=0.9'", "gzip" } }) do
              local status, h, body = curl(p[2] .. " " .. c[1], url)
              local what = p[1] .. " " .. c[1]
              assert.equal(200, status, what)
              assert.equal(c[2], h["content-encoding"], what)
              assert.equal("accept-encoding", h.vary, what)
              assert.is_nil(h["content-length"], what)
              assert.equal('W/"v1"', h.etag, what)
              assert.equal(TEXT, body, what)
            end
            -- the bytes on the wire are smaller than the text, and decode
            -- (gzip here, with gunzip) to it
            local rc, out = H.sh("curl -s " .. p[2] .. " -H 'Accept-Encoding: gzip' " .. url .. " | gunzip | sha256sum")
            assert.equal(0, rc)
            assert.equal(H.sha256(TEXT), out:match("^(%x+)"))
            local rc2, n = H.sh("curl -s " .. p[2] .. " -H 'Accept-Encoding: br' " .. url .. " | wc -c")
            assert.equal(0, rc2)
            assert.is_true(tonumber(n) < #TEXT / 4, n)
            local status, h, body = curl(p[2] .. " --compressed", base_of(port) .. "/json")
            assert.equal(200, status)
            assert.equal("br", h["content-encoding"])
            assert.equal("origin, accept-encoding", h.vary)
            assert.equal(JSON, body)
          end
        end
      end
    end)
  end)

  it("no compression when not accepted (none, identity, q=0) or the type does not compress (image/png), with a small content-length, no-transform or no body; Vary only where the type compresses", function()
    H.run(function()
      local _, cport = compat_server(compat_app)
      local _, sport = stream_server(stream_app)
      for _, port in ipairs({ cport, sport }) do
        for _, p in ipairs(PROTOS) do
          if not (port == sport and p[1] == "HTTP/1.1") then
            local b = base_of(port)
            for _, ae in ipairs({ "", "-H 'Accept-Encoding: identity'", "-H 'Accept-Encoding: br;q=0, gzip;q=0'",
                                  "-H 'Accept-Encoding: zstd'" }) do
              local status, h, body = curl(p[2] .. " " .. ae, b .. "/text")
              assert.equal(200, status, ae)
              assert.is_nil(h["content-encoding"], ae)
              assert.equal("accept-encoding", h.vary, ae)
              assert.equal('"v1"', h.etag, ae)
              assert.equal(TEXT, body, ae)
            end
            local status, h, body = curl(p[2] .. " -H 'Accept-Encoding: br, gzip'", b .. "/png")
            assert.equal(200, status)
            assert.is_nil(h["content-encoding"])
            assert.is_nil(h.vary)
            assert.equal(("\0PNG"):rep(1000), body)
            status, h, body = curl(p[2] .. " -H 'Accept-Encoding: br, gzip'", b .. "/small")
            assert.is_nil(h["content-encoding"])
            assert.equal("small", body)
            assert.equal("5", h["content-length"])
            status, h, body = curl(p[2] .. " -H 'Accept-Encoding: br, gzip'", b .. "/nt")
            assert.is_nil(h["content-encoding"])
            assert.equal(TEXT, body)
            status, h, body = curl(p[2] .. " -H 'Accept-Encoding: br, gzip'", b .. "/nobody")
            assert.equal(204, status)
            assert.is_nil(h["content-encoding"])
            local head
            status, h, body, head = curl(p[2] .. " -I -H 'Accept-Encoding: br, gzip'", b .. "/text")
            assert.equal(200, status)
            assert.equal("br", h["content-encoding"])
            assert.equal(head, body)
          end
        end
      end
    end)
  end)

  it("negotiate and compressible", function()
    assert.equal("br", compress.negotiate("gzip, deflate, br"))
    assert.equal("gzip", compress.negotiate("gzip;q=0.8, br;q=0.2"))
    assert.equal("gzip", compress.negotiate("x-gzip"))
    assert.is_nil(compress.negotiate("identity"))
    assert.is_nil(compress.negotiate("*;q=0"))
    assert.is_nil(compress.negotiate(nil))
    assert.equal("gzip", compress.negotiate("*, br;q=0"))
    assert.is_true(compress.compressible("text/html; charset=utf-8"))
    assert.is_true(compress.compressible("application/problem+json"))
    assert.is_true(compress.compressible("image/svg+xml"))
    assert.is_false(compress.compressible("image/png"))
    assert.is_false(compress.compressible("application/gzip"))
    assert.is_false(compress.compressible(nil))
  end)

  it("each write leaves compressed at once: python reads the gzip stream of an HTTP/1.1 response and decodes the first part before the handler writes the second", function()
    H.run(function()
      local release
      local _, port = compat_server(function(req, res)
        if req.url == "/go" then
          res:finish("ok")
          if release then release() end
          return
        end
        res = compress.wrap(res)
        res:setHeader("content-type", "text/plain")
        res:write("first part\n")
        local h2lua = require "h2lua"
        local waiting = true
        release = function() waiting = false end
        local deadline = h2lua.now() + 10000
        while waiting and h2lua.now() < deadline do h2lua.sleep(5) end
        res:finish(waiting and "never released\n" or "second part\n")
      end)
      local rc, out, err = H.sh(H.PY .. " -c " .. H.shq(([[
import http.client, zlib
c = http.client.HTTPConnection('127.0.0.1', %d, timeout=10)
c.request('GET', '/stream', headers={'Accept-Encoding': 'gzip'})
r = c.getresponse()
assert r.getheader('content-encoding') == 'gzip', r.getheaders()
d = zlib.decompressobj(16 + zlib.MAX_WBITS)
got = b''
while b'first part' not in got:
    chunk = r.read1(65536)
    if not chunk:
        break
    got += d.decompress(chunk)
print('before release:', got.decode())
c2 = http.client.HTTPConnection('127.0.0.1', %d, timeout=10)
c2.request('GET', '/go')
c2.getresponse().read()
rest = r.read()
got += d.decompress(rest) + d.flush()
print('all:', got.decode().replace('\n', '|'))
]]):format(port, port)), 30)
      assert.equal(0, rc, err)
      assert.truthy(out:find("before release: first part\n", 1, true), out)
      assert.truthy(out:find("all: first part|second part|", 1, true), out)
    end)
  end)

  it("a 48 MiB response streamed in 64 KiB writes, compressed write by write (br over h2c, gzip over HTTP/1.1): decoded equal, server RSS grows < 16 MiB", function()
    local pattern = os.tmpname()
    -- 1 MiB of hex text (compresses about 2:1, so the output is not tiny)
    local hex = H.bytes(512 * 1024, 99):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
    H.writefile(pattern, hex)
    local N = 48
    local expect = io.popen("for i in $(seq " .. N .. "); do cat " .. pattern .. "; done | sha256sum"):read("a"):match("^(%x+)")
    H.run(function()
      local proc = H.start(nil, "-e " .. H.shq(([[
        local http2 = require "http2"
        local compress = require "h2lua.compress"
        local f = io.open(%q, "rb")
        local block = f:read("a")
        f:close()
        local s = http2.createServer({ allowHTTP1 = true })
        s:on("request", function(req, res)
          res = compress.wrap(res)
          res:setHeader("content-type", "text/plain")
          for _ = 1, %d do
            for i = 1, #block, 65536 do
              if not res:write(block:sub(i, i + 65535)) then res:wait("drain") end
            end
          end
          res:finish()
        end)
        s:listen(0, "127.0.0.1", function() print("listening " .. s:address().port) io.stdout:flush() end)
      ]]):format(pattern, N)))
      local port = tonumber(H.wait_output(proc, "listening (%d+)", 10))
      assert.truthy(port, "the server did not start")
      local function rss()
        local s = H.readfile("/proc/" .. proc.pid .. "/status") or ""
        return tonumber(s:match("VmRSS:%s*(%d+)"))
      end
      local h2lua = require "h2lua"
      local before, peak, done = rss(), 0, false
      h2lua.spawn(function()
        while not done do
          local r = rss()
          if r and r > peak then peak = r end
          h2lua.sleep(20)
        end
      end)
      local rc, out = H.sh("curl -s --http2-prior-knowledge --compressed " .. base_of(port) ..
        "/ | sha256sum", 180)
      local rc2, out2 = H.sh("curl -s --http1.1 -H 'Accept-Encoding: gzip' " .. base_of(port) ..
        "/ | gunzip | sha256sum", 180)
      done = true
      local after = rss()
      H.stop(proc)
      assert.equal(0, rc)
      assert.equal(expect, out:match("^(%x+)"))
      assert.equal(0, rc2)
      assert.equal(expect, out2:match("^(%x+)"))
      peak = math.max(peak, after or 0)
      assert.truthy(before and peak > 0, "no RSS read")
      assert.is_true(peak - before < 16 * 1024, ("server RSS grew from %d to %d kB"):format(before, peak))
    end, 300000)
    os.remove(pattern)
  end)
end)
