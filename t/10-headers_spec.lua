-- Headers both ways: Node.js's rules for received headers, validation of
-- what a handler sends (with Node's error codes), sensitive headers.
local H = require "helper"
local http2 = require "http2"

local function get(port, path, ...)
  local extra = {}
  for i, v in ipairs({ ... }) do extra[i] = H.shq(v) end
  return H.sh(H.PY .. " " .. H.CLIENTS .. "/h2c.py get " .. port .. " " .. path .. " " ..
    table.concat(extra, " "))
end

local function code_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  assert.is_table(err, tostring(err))
  return err.code, err
end

describe("headers", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("received: Node's duplicate rules, rawHeaders, sensitive names", function()
    H.run(function()
      local got, raw
      local server = http2.createServer()
      server:on("stream", function(stream, headers, flags, rawHeaders)
        got, raw = headers, rawHeaders
        assert.equal(5, flags) -- END_STREAM | END_HEADERS
        stream:respond()
        stream:finish()
      end)
      local port = H.listen(server)
      local rc, _, err = get(port, "/p?q=1", "user-agent=first", "user-agent=second",
        "x-dup=a", "x-dup=b", "cookie=c1=1", "cookie=c2=2", "set-cookie=s1",
        "set-cookie=s2", "x-secret!=hush")
      assert.equal(0, rc, err)
      assert.equal("GET", got[":method"])
      assert.equal("/p?q=1", got[":path"])
      assert.equal("http", got[":scheme"])
      assert.equal("first", got["user-agent"])
      assert.equal("a, b", got["x-dup"])
      assert.equal("c1=1; c2=2", got.cookie)
      assert.same({ "s1", "s2" }, got["set-cookie"])
      -- python-hpack, like nghttp2, sends short cookies never-indexed on
      -- its own: Node lists those too, once per field
      assert.same({ "cookie", "cookie", "x-secret" }, got[http2.sensitiveHeaders])
      assert.equal("hush", got["x-secret"])
      assert.equal(":method", raw[1])
      assert.equal("GET", raw[2])
      local pairs_seen = {}
      for i = 1, #raw, 2 do pairs_seen[#pairs_seen + 1] = raw[i] .. "=" .. raw[i + 1] end
      assert.truthy(table.concat(pairs_seen, ","):find("user-agent=first,user-agent=second", 1, true))
    end)
  end)

  -- A listener that cannot take rawHeaders gets a table the engine fills
  -- as it is read (src/headers.c): each way of reading it must end in the
  -- table the eager path builds, whatever came first.
  it("received, filled as read: any order of reads, assignments and deletions, pairs(), after the stream closed, past 64 fields", function()
    local fields = { "user-agent=first", "user-agent=second", "x-dup=a", "x-dup=b", "cookie=c1=1",
      "cookie=c2=2", "set-cookie=s1", "set-cookie=s2", "x-secret!=hush", "x-one=1" }
    local whole = {
      [":method"] = "GET", [":path"] = "/p", [":scheme"] = "http", ["user-agent"] = "first",
      ["x-dup"] = "a, b", cookie = "c1=1; c2=2", ["set-cookie"] = { "s1", "s2" }, ["x-secret"] = "hush",
      ["x-one"] = "1",
    }
    local function plain(h) -- every field, through pairs()
      local t, n = {}, 0
      for k, v in pairs(h) do
        if type(k) == "string" then t[k] = v end
        n = n + 1
      end
      t[":authority"] = nil -- the client's port
      return t, n
    end
    H.run(function()
      local kept = {}
      local server = http2.createServer()
      server:on("stream", function(stream, headers)
        kept[#kept + 1] = headers
        local case = #kept
        if case == 1 then -- a field sent once, then a duplicated one
          assert.equal("/p", headers[":path"])
          assert.equal("/p", rawget(headers, ":path")) -- it stays
          assert.is_nil(rawget(headers, "x-one"))    -- the rest waits
          assert.equal("a, b", headers["x-dup"])
          assert.equal("1", rawget(headers, "x-one")) -- a name sent twice filled all
        elseif case == 2 then -- assignments and a deletion before anything is read
          headers["user-agent"] = "mine"
          headers[":path"] = nil
          headers["x-new"] = "n"
          assert.equal("mine", headers["user-agent"])
          assert.is_nil(headers[":path"])
          assert.equal("1", headers["x-one"])
          assert.is_nil(headers["x-absent"])
        elseif case == 3 then -- the sensitive list first
          assert.same({ "cookie", "cookie", "x-secret" }, headers[http2.sensitiveHeaders])
        elseif case == 4 then -- a read, then an assignment to a field sent twice
          assert.equal("first", headers["user-agent"])
          headers["x-dup"] = "mine"
          headers["x-one"] = nil
        end
        -- case 5: nothing read until the stream has closed
        stream:respond()
        stream:finish()
      end)
      local port = H.listen(server)
      for _ = 1, 5 do
        local rc, _, err = get(port, "/p", table.unpack(fields))
        assert.equal(0, rc, err)
      end
      assert.equal(5, #kept)
      local got, n = plain(kept[1])
      assert.same(whole, got)
      assert.equal(11, n) -- nothing private left: 10 fields, :authority, the sensitive list
      local want = {}
      for k, v in pairs(whole) do want[k] = v end
      want["user-agent"], want[":path"], want["x-new"] = "mine", nil, "n"
      assert.same(want, (plain(kept[2])))
      assert.same(whole, (plain(kept[3])))
      want = {}
      for k, v in pairs(whole) do want[k] = v end
      want["x-dup"], want["x-one"] = "mine", nil
      assert.same(want, (plain(kept[4])))
      assert.same(whole, (plain(kept[5])))
      assert.same({ "cookie", "cookie", "x-secret" }, kept[5][http2.sensitiveHeaders])
      -- the plain table's metatable: an empty sensitive list when none came
      assert.equal(getmetatable(kept[1]), getmetatable(kept[5]))
    end)
    -- more fields than the engine tracks one by one: still Node's table
    H.run(function()
      local seen
      local server = http2.createServer()
      server:on("stream", function(stream, headers)
        assert.equal("v7", headers["x-h7"])
        headers["x-h9"] = "mine"
        assert.equal("v70", headers["x-h70"])
        assert.equal("mine", headers["x-h9"])
        seen = headers
        stream:respond()
        stream:finish()
      end)
      local port = H.listen(server)
      local many = {}
      for i = 1, 70 do many[i] = "x-h" .. i .. "=v" .. i end
      local rc, _, err = get(port, "/many", table.unpack(many))
      assert.equal(0, rc, err)
      local n = 0
      for k, v in pairs(seen) do
        n = n + 1
        local i = k:match("^x%-h(%d+)$")
        if i then assert.equal(i == "9" and "mine" or "v" .. i, v) end
      end
      assert.equal(74, n)
      assert.same({}, seen[http2.sensitiveHeaders])
    end)
  end)

  -- h2lua.json walks tables as lua-cjson does, raw: a table not yet
  -- filled held only its private entry ("Cannot serialise userdata"), and
  -- the sensitive list's key is no JSON key (Node's JSON.stringify leaves
  -- its Symbol out).
  it("json.encode of received headers: not yet read, partly read, with never-indexed fields; the sensitive list left out", function()
    local json = require "h2lua.json"
    local out = {}
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(stream, headers)
        local case = #out + 1
        if case == 2 then assert.equal("/j", headers[":path"]) end
        if case == 3 then assert.equal(2, #headers[http2.sensitiveHeaders]) end
        local ok, s = pcall(json.encode, headers)
        out[case] = ok and s or ("error: " .. tostring(s))
        stream:respond()
        stream:finish()
      end)
      local port = H.listen(server)
      for _ = 1, 3 do
        local rc, _, err = get(port, "/j", "x-one=1", "x-dup=a", "x-dup=b", "cookie=c1=1", "x-secret!=hush")
        assert.equal(0, rc, err)
      end
    end)
    assert.equal(3, #out)
    for i = 1, 3 do
      local t = json.decode(out[i])
      assert.is_table(t, out[i])
      t[":authority"] = nil -- the client's port
      assert.same({ [":method"] = "GET", [":path"] = "/j", [":scheme"] = "http", ["x-one"] = "1",
        ["x-dup"] = "a, b", cookie = "c1=1", ["x-secret"] = "hush" }, t)
    end
  end)

  it("sent: lower-cased names, arrays as repeated fields, numbers, sensitive never-indexed", function()
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(stream)
        stream:respond({
          [":status"] = 201, ["X-Mixed-Case"] = "v", ["x-multi"] = { "a", "b" },
          ["x-number"] = 42, ["x-secret"] = "s3cret", ["x-empty-list"] = {},
          [http2.sensitiveHeaders] = { "X-Secret" },
        })
        stream:finish("body")
      end)
      local port = H.listen(server)
      local rc, out, err = get(port, "/")
      assert.equal(0, rc, err)
      assert.truthy(out:find("h :status 201\n", 1, true))
      assert.truthy(out:find("h x-mixed-case v\n", 1, true))
      assert.truthy(out:find("h x-multi a\nh x-multi b\n", 1, true))
      assert.truthy(out:find("h x-number 42\n", 1, true))
      assert.truthy(out:find("h x-secret s3cret [never]\n", 1, true))
      assert.falsy(out:find("x-empty-list", 1, true))
      assert.truthy(out:find("h date ", 1, true))
      assert.truthy(out:find("body$"))
    end)
  end)

  it("respond() raises Node's errors and sends nothing for bad headers", function()
    H.run(function()
      local codes = {}
      local server = http2.createServer()
      server:on("stream", function(stream)
        local function try(h, o) codes[#codes + 1] = (code_of(stream.respond, stream, h, o)) end
        try({ ["x-bad"] = "a\r\nb" })
        try({ ["x-bad"] = "nul\0" })
        try({ ["x-bad"] = true })
        try({ ["x-bad"] = { "ok", {} } })
        try({ ["bad name"] = "v" })
        try({ ["x(y)"] = "v" })
        try({ [":path"] = "/" })
        try({ [":foo"] = "x" })
        try({ ["content-type"] = { "a", "b" } })
        try({ ["Content-Type"] = "a", ["content-type"] = "b" })
        try({ connection = "close" })
        try({ ["transfer-encoding"] = "chunked" })
        try({ te = "gzip" })
        try({ [":status"] = 99 })
        try({ [":status"] = 600 })
        try({ [":status"] = 101 })
        try("not a table")
        try({}, "not a table")
        local _, e = pcall(stream.additionalHeaders, stream, { [":status"] = 101 })
        codes[#codes + 1] = e.code
        _, e = pcall(stream.additionalHeaders, stream, { [":status"] = 200 })
        codes[#codes + 1] = e.code
        assert.is_false(stream.headersSent)
        stream:respond({ te = "trailers", ["x-ok"] = "1" })
        codes[#codes + 1] = (code_of(stream.respond, stream, {}))
        _, e = pcall(stream.additionalHeaders, stream, { [":status"] = 103 })
        codes[#codes + 1] = e.code
        stream:finish("ok")
        codes[#codes + 1] = (code_of(stream.write, stream, "late"))
      end)
      local port = H.listen(server)
      local rc, out, err = get(port, "/")
      assert.equal(0, rc, err)
      assert.truthy(out:find("h :status 200\n", 1, true))
      assert.truthy(out:find("ok$"))
      assert.same({
        "ERR_HTTP2_INVALID_HEADER_VALUE", "ERR_HTTP2_INVALID_HEADER_VALUE",
        "ERR_HTTP2_INVALID_HEADER_VALUE", "ERR_HTTP2_INVALID_HEADER_VALUE",
        "ERR_INVALID_HTTP_TOKEN", "ERR_INVALID_HTTP_TOKEN",
        "ERR_HTTP2_INVALID_PSEUDOHEADER", "ERR_HTTP2_INVALID_PSEUDOHEADER",
        "ERR_HTTP2_HEADER_SINGLE_VALUE", "ERR_HTTP2_HEADER_SINGLE_VALUE",
        "ERR_HTTP2_INVALID_CONNECTION_HEADERS", "ERR_HTTP2_INVALID_CONNECTION_HEADERS",
        "ERR_HTTP2_INVALID_CONNECTION_HEADERS",
        "ERR_HTTP2_STATUS_INVALID", "ERR_HTTP2_STATUS_INVALID", "ERR_HTTP2_STATUS_INVALID",
        "ERR_INVALID_ARG_TYPE", "ERR_INVALID_ARG_TYPE",
        "ERR_HTTP2_STATUS_101", "ERR_HTTP2_INVALID_INFO_STATUS",
        "ERR_HTTP2_HEADERS_SENT", "ERR_HTTP2_HEADERS_AFTER_RESPOND",
        "ERR_STREAM_WRITE_AFTER_END",
      }, codes)
    end)
  end)

  it("error objects carry Node's name and message and print like Node", function()
    H.run(function()
      local e1, e2, e3
      local server = http2.createServer()
      server:on("stream", function(stream)
        _, e1 = pcall(stream.respond, stream, { ["x-bad"] = "a\nb" })
        _, e2 = pcall(stream.respond, stream, { [":status"] = 700 })
        _, e3 = pcall(stream.respond, stream, { ["Connection"] = "close" })
        stream:respond()
        stream:finish()
      end)
      local port = H.listen(server)
      assert.equal(0, (get(port, "/")))
      assert.equal("TypeError", e1.name)
      assert.equal('Invalid value "a\\nb" for header "x-bad"', e1.message)
      assert.equal("RangeError", e2.name)
      assert.equal("Invalid status code: 700", e2.message)
      assert.equal('TypeError [ERR_HTTP2_INVALID_CONNECTION_HEADERS]: HTTP/1 Connection specific headers are forbidden: "connection"',
        tostring(e3))
    end)
  end)

  it("HEAD and 204/304 responses end with the headers; body writes are dropped", function()
    H.run(function()
      local server = http2.createServer()
      server:on("stream", function(stream, headers)
        local status = headers[":path"] == "/204" and 204 or 200
        stream:respond({ [":status"] = status, ["content-length"] = 5 })
        assert.is_true(stream.writableEnded)
        stream:finish("hello")
      end)
      local port = H.listen(server)
      local rc, out = H.sh("curl -sS -I --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
      assert.equal(0, rc)
      assert.truthy(out:find("^HTTP/2 200"))
      local rc2, out2 = H.sh("nghttp -nv http://127.0.0.1:" .. port .. "/204")
      assert.equal(0, rc2)
      assert.truthy(out2:find(":status: 204", 1, true))
      assert.truthy(out2:find("flags=0x05, stream_id=13", 1, true)) -- HEADERS with END_STREAM
      assert.falsy(out2:find("recv DATA frame", 1, true))
    end)
  end)
end)
