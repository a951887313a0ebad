-- h2spec (the independent HTTP/2 conformance suite), strict, against a
-- small app over h2c and over TLS: every one of its 147 cases must pass,
-- none skipped. h2spec is not packaged for Debian: it runs when found
-- (H2SPEC=path, else h2spec on PATH; CI points H2SPEC at its copy), and
-- this spec is skipped with a message otherwise.
local H = require "helper"
local http2 = require "http2"

local CASES = 147

local function find_h2spec()
  local path = os.getenv("H2SPEC")
  if path and path ~= "" then return path end
  local p = io.popen("command -v h2spec 2>/dev/null")
  local found = p:read("l")
  p:close()
  return found ~= "" and found or nil
end

local H2SPEC = find_h2spec()

-- The app reads the whole request body before it answers. (A handler
-- that answers at once makes the server end a request it did not read
-- with RST_STREAM(NO_ERROR), as RFC 9113 8.1 allows; h2spec's case
-- 8.1.2.1/3 then gets no stream error for the malformed trailers it sends
-- after that, which the RFC says to ignore on a closed stream.)
local function app(server)
  server:on("stream", function(stream)
    local body = stream:readAll()
    if not body or stream.destroyed then return end
    stream:respond({ [":status"] = 200, ["content-type"] = "text/plain" })
    stream:finish("hello, " .. #body .. " bytes read\n")
  end)
  -- h2spec sends GOAWAYs with error codes, which end sessions with an
  -- 'error' (as in Node.js): taken here, not logged as unhandled
  server:on("session", function(session) session:on("error", function() end) end)
  return H.listen(server)
end

-- Sums a JUnit report's testsuite counts; lists the cases that failed or
-- were skipped.
local function junit(xml)
  local n = { tests = 0, failures = 0, skipped = 0, errors = 0 }
  for attrs in xml:gmatch("<testsuite (.-)>") do
    for k in pairs(n) do n[k] = n[k] + tonumber(attrs:match(k .. '="(%d+)"') or "0") end
  end
  local bad = {}
  for pkg, name, body in xml:gmatch('<testcase package="([^"]*)" classname="([^"]*)"[^>]*>(.-)</testcase>') do
    if body:find("<failure", 1, true) or body:find("<skipped", 1, true) then
      bad[#bad + 1] = pkg .. ": " .. name
    end
  end
  return n, bad
end

-- Runs h2spec strict against |port| (|tls|: -t -k), bounded; asserts all
-- of it passed.
local function check(port, tls)
  assert(os.execute("test -x " .. H.shq(H2SPEC)), "H2SPEC=" .. H2SPEC .. " is not an executable")
  local report = os.tmpname()
  local rc, out, err = H.sh(string.format("%s -S -h 127.0.0.1 -p %d %s -j %s",
    H.shq(H2SPEC), port, tls and "-t -k" or "", report), 240)
  local xml = H.readfile(report) or ""
  os.remove(report)
  local n, bad = junit(xml)
  local summary = out:match("(%d+ tests, %d+ passed, %d+ skipped, %d+ failed)")
  local why = H2SPEC .. ": " .. (summary or "no summary (rc " .. rc .. ")") .. "\n" .. table.concat(bad, "\n") ..
    (summary and "" or "\n" .. out:sub(-2000) .. err)
  assert.equal(CASES, n.tests, why)
  assert.equal(0, n.failures + n.errors, why)
  assert.equal(0, n.skipped, why)
  assert.equal(CASES .. " tests, " .. CASES .. " passed, 0 skipped, 0 failed", summary, why)
  assert.equal(0, rc, why)
end

if not H2SPEC then
  describe("h2spec", function()
    pending("h2spec not found (set H2SPEC=path or put h2spec on PATH): the conformance suite did not run")
  end)
  return
end

describe("h2spec", function()
  local PKI = os.tmpname() .. ".pki"
  setup(function()
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. PKI .. " >/dev/null"))
  end)
  teardown(function() os.execute("rm -rf " .. PKI) end)
  after_each(function() assert.is_nil(H.leaks()) end)

  it("-S over h2c: 147 of 147 passed, 0 failed, 0 skipped (within 240 s)", function()
    H.run(function()
      check(app(http2.createServer()), false)
    end, 250000)
  end)

  it("-S -t -k over TLS: 147 of 147 passed, 0 failed, 0 skipped (within 240 s)", function()
    H.run(function()
      local server = http2.createSecureServer({ key = H.readfile(PKI .. "/server-key.pem"),
        cert = H.readfile(PKI .. "/server.pem") })
      check(app(server), true)
    end, 250000)
  end)
end)
