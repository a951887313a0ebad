-- docs/tour: every chapter's script runs with --trace, prints the trace
-- lines the chapter is about, and its page shows the frames it prints.
local H = require "helper"

local function run(script)
  local err = os.tmpname()
  local p = io.popen(("H2LUA_TRACE=nocolor timeout 30 %s --trace %s 2>%s; echo \"rc=$?\""):format(
    H.BIN, script, err))
  local out = p:read("a")
  p:close()
  local trace = H.readfile(err) or ""
  os.remove(err)
  local body, rc = out:match("^(.*)rc=(%d+)\n$")
  return body, tonumber(rc), trace
end

-- A frame line without its time and fields: who, which way, the type and
-- <length, flags, stream_id>; a response's HEADERS without its length
-- (its date field is a literal or an index as the second turns).
local function frame_keys(text)
  local keys, list = {}, {}
  for k in text:gmatch("%[%s*[%d.]+%] (%a+#%d+ %a+ [%u_ ]-frame <[^>]*>)") do
    if k:find("^server#%d+ send HEADERS") or k:find("^client#%d+ recv HEADERS") then
      k = k:gsub("length=%d+, ", "")
    end
    if not keys[k] then
      keys[k] = true
      list[#list + 1] = k
    end
  end
  return keys, list
end

-- what each chapter must show: lines of its output, then of its trace
local chapters = {
  ["01-streams"] = {
    out = { "client: streams 1, 3, 5 finished in the order /fast /also-fast /slow",
      "server: stream 1 /slow, state half-closed (remote)" },
    trace = { "client#1 send HEADERS frame <length=", "stream_id=5> ; END_STREAM | END_HEADERS",
      "server#2 send DATA frame <length=5, flags=0x01, stream_id=1> ; END_STREAM",
      "\n          :path: /slow  ; static name" },
  },
  ["02-flow-control"] = {
    out = { "server: read 16384 bytes (16384 in all)", "client: got 50000 bytes" },
    trace = { "[SETTINGS_INITIAL_WINDOW_SIZE(0x04):16384]",
      "client#1 send DATA frame <length=16384, flags=0x00, stream_id=1>",
      "server#2 send WINDOW_UPDATE frame <length=4, flags=0x00, stream_id=1> (windowSizeIncrement=16384)",
      "client#1 send DATA frame <length=848, flags=0x01, stream_id=1> ; END_STREAM" },
  },
  ["03-settings"] = {
    out = { "client: the server allows 1 stream(s) at once, header lists up to 16384 bytes",
      "client: /a then /b", "client: the server acknowledged initialWindowSize 1000000, enablePush false" },
    trace = { "server#2 send SETTINGS frame <length=18, flags=0x00, stream_id=0> [SETTINGS_HEADER_TABLE_SIZE(0x01):8192] [SETTINGS_MAX_CONCURRENT_STREAMS(0x03):1]",
      "client#1 send SETTINGS frame <length=12, flags=0x00, stream_id=0> [SETTINGS_ENABLE_PUSH(0x02):0] [SETTINGS_INITIAL_WINDOW_SIZE(0x04):1000000]",
      "server#2 send SETTINGS frame <length=0, flags=0x01, stream_id=0> ; ACK",
      "client#1 send HEADERS frame <length=", "stream_id=3>" },
  },
  ["04-ping"] = {
    out = { "server: ping h2lua:-)", 'client: the ACK came back with "h2lua:-)"' },
    trace = { "client#1 send PING frame <length=8, flags=0x00, stream_id=0> (opaqueData=68326c75613a2d29)",
      "server#2 send PING frame <length=8, flags=0x01, stream_id=0> ; ACK (opaqueData=68326c75613a2d29)" },
  },
  ["05-push"] = {
    out = { "client: pushed /style.css on stream 2", "client: pushed body body { color: teal }",
      "server: this client refuses pushes" },
    trace = { "server#2 send PUSH_PROMISE frame <length=", "(promisedStreamId=2,",
      "\n          :path: /style.css", "server#2 send DATA frame <length=20, flags=0x01, stream_id=2> ; END_STREAM",
      "[SETTINGS_ENABLE_PUSH(0x02):0]" },
  },
  ["06-hpack"] = {
    out = { "client: three requests" },
    trace = { "client#1 send HEADERS frame <length=43, flags=0x05, stream_id=1>",
      "client#1 send HEADERS frame <length=12, flags=0x05, stream_id=3>",
      "hpackTableGrowth=+0)", "\n          :method: GET  ; static table",
      "\n          authorization: Bearer secret  ; never indexed",
      "\n          authorization: Bearer secret  ; static name never indexed" },
  },
  ["07-goaway"] = {
    out = { "client: GOAWAY code 0, last stream 1", "client: finished after the GOAWAY",
      "client: a new request: ERR_HTTP2_GOAWAY_SESSION" },
    trace = { "server#2 send GOAWAY frame <length=8, flags=0x00, stream_id=0> (lastStreamId=1, errorCode=NO_ERROR(0x00)",
      "server#2 send DATA frame <length=26, flags=0x01, stream_id=1> ; END_STREAM" },
  },
  ["08-errors"] = {
    out = { "client: stream 1 reset with code 7; the connection goes on", "client: stream 3 says fine",
      "client: session error ERR_HTTP2_SESSION_ERROR", "client: the session is destroyed" },
    trace = { "server#2 send RST_STREAM frame <length=4, flags=0x00, stream_id=1> (errorCode=REFUSED_STREAM(0x07))",
      "server#2 send GOAWAY frame <length=8, flags=0x00, stream_id=0> (lastStreamId=5, errorCode=ENHANCE_YOUR_CALM(0x0b)" },
  },
}

describe("docs/tour", function()
  it("has a page and a script for each of its eight chapters, all in the index", function()
    local index = H.readfile("docs/tour/README.md")
    local n = 0
    for name in pairs(chapters) do
      n = n + 1
      assert.truthy(H.exists("docs/tour/" .. name .. ".lua"), name)
      assert.truthy(H.exists("docs/tour/" .. name .. ".md"), name)
      assert.truthy(index:find("(" .. name .. ".md)", 1, true), name)
    end
    assert.equal(8, n)
  end)

  for name, want in pairs(chapters) do
    it(name .. ".lua prints its trace, and the page shows those frames", function()
      local out, rc, trace = run("docs/tour/" .. name .. ".lua")
      assert.equal(0, rc, out .. trace)
      for _, s in ipairs(want.out) do
        assert(out:find(s, 1, true), ("%s: %q not in the output:\n%s"):format(name, s, out))
      end
      for _, s in ipairs(want.trace) do
        assert(trace:find(s, 1, true), ("%s: %q not in the trace:\n%s"):format(name, s, trace))
      end
      -- the page's trace is the script's: every frame it shows was printed
      local page = H.readfile("docs/tour/" .. name .. ".md")
      local shown = page:match("<!%-%- trace %-%->\n```\n(.-)```\n<!%-%- /trace %-%->")
      assert.truthy(shown, name .. ": no trace in the page")
      local printed = frame_keys(trace)
      local _, in_page = frame_keys(shown)
      assert.is_true(#in_page >= 8)
      for _, k in ipairs(in_page) do
        assert(printed[k], ("%s: the page shows %q, which the script did not print"):format(name, k))
      end
      assert.falsy(trace:find("\27[", 1, true)) -- nocolor
    end)
  end
end)
