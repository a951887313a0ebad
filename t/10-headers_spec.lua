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
