-- Correct on the wire: the MUSTs of RFC 9113 sections 3 to 8 and RFC 7541,
-- case by case, with a raw peer (t/clients/h2raw.py) that sends what polite
-- clients never do. Connection errors must be a GOAWAY with the right code;
-- stream errors an RST_STREAM (a GOAWAY with the same code is accepted
-- where the RFC allows the connection error too); and after any of it the
-- server goes on serving other connections.
local H = require "helper"
local http2 = require "http2"
local h2lua = require "h2lua"

local P = "preface; settings; settings-ack; "
local GET = "82868441096c6f63616c686f7374" -- :method GET, :scheme http, :path /, :authority localhost

-- PROTOCOL_ERROR 1, INTERNAL 2, FLOW_CONTROL 3, STREAM_CLOSED 5,
-- FRAME_SIZE 6, REFUSED_STREAM 7, COMPRESSION 9
-- Cases about a request's body use /echo, whose handler reads the body
-- before it answers: a stream answered early is reset with NO_ERROR (RFC
-- 9113 8.1), and what the client sends on it after that is ignored (5.1).
local cases = {
  -- 3.4 / 3.5 connection preface
  -- (an h2c-only server reads HTTP/1.1 only as far as an Upgrade: h2c)
  { "3.4 an HTTP/1.1 request for a preface is a PROTOCOL_ERROR, and the close", "bytes 474554202f20485454502f312e310d0a0d0a; wait 0.3", "goawayclosed", 1 },
  { "3.4 a bad preface is a PROTOCOL_ERROR, and the close", "bytes " ..
      ("INVALID CONNECTION PREFACE\r\n\r\n"):gsub(".", function(c) return ("%02x"):format(c:byte()) end) .. "; wait 0.3", "goawayclosed", 1 },
  { "3.4 a preface wrong in its last octet is a PROTOCOL_ERROR, and the close", "bytes " ..
      ("PRI * HTTP/2.0\r\n\r\nSM\r\n\rQ"):gsub(".", function(c) return ("%02x"):format(c:byte()) end) .. "; wait 0.3", "goawayclosed", 1 },
  { "3.4 a preface not followed by SETTINGS is a connection error", "preface; ping; wait 0.3", "goaway", 1 },
  -- 4.1 frame format
  { "4.1 frames of unknown type are ignored", P .. "frame 99 0 0 00; ping; wait 0.2", "pingack" },
  { "4.1 undefined flags are ignored", P .. "frame 6 22 0 6162636465666768; wait 0.2", "pingack" },
  { "4.1 the reserved bit of the stream id is ignored", P .. "headers 1 end; wait 0.2", "status", 200 },
  -- 4.2 frame size
  { "4.2 DATA of 16384 octets is accepted", P .. "headers 1 :method=POST :path=/echo; data 1 16384 end; wait 0.3", "status", 200 },
  { "4.2 DATA over SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR", P .. "headers 1 :method=POST :path=/echo; data 1 16385; wait 0.3", "either", 6 },
  { "4.2 HEADERS over SETTINGS_MAX_FRAME_SIZE is a connection FRAME_SIZE_ERROR", P .. "frame 1 4 1 " .. string.rep("00", 16385) .. "; wait 0.3", "goaway", 6 },
  -- 4.3 header compression
  { "4.3 an undecodable header block is a COMPRESSION_ERROR", P .. "frame 1 5 1 ff; wait 0.3", "goaway", 9 },
  { "4.3 PRIORITY inside a header block is a PROTOCOL_ERROR", P .. "frame 1 1 1 8286; priority 1 0 16; wait 0.3", "goaway", 1 },
  { "4.3 HEADERS of another stream inside a header block is a PROTOCOL_ERROR", P .. "frame 1 1 1 8286; headers 3 end; wait 0.3", "goaway", 1 },
  -- 5.1 stream states
  { "5.1 idle: DATA is a PROTOCOL_ERROR", P .. "data 1 4; wait 0.3", "goaway", 1 },
  { "5.1 idle: RST_STREAM is a PROTOCOL_ERROR", P .. "rst 1 8; wait 0.3", "goaway", 1 },
  { "5.1 idle: WINDOW_UPDATE is a PROTOCOL_ERROR", P .. "window 1 100; wait 0.3", "goaway", 1 },
  { "5.1 idle: CONTINUATION is a PROTOCOL_ERROR", P .. "frame 9 4 1 8286; wait 0.3", "goaway", 1 },
  { "5.1 half-closed (remote): DATA is STREAM_CLOSED", P .. "headers 1 end :path=/slow; data 1 4; wait 0.3", "either", 5 },
  { "5.1 half-closed (remote): HEADERS is STREAM_CLOSED", P .. "headers 1 end :path=/slow; headers 1 end; wait 0.3", "either", 5 },
  { "5.1 closed after RST_STREAM: DATA is STREAM_CLOSED", P .. "headers 1 :path=/slow :method=POST; rst 1 8; data 1 4; wait 0.3", "either", 5 },
  { "5.1 closed after RST_STREAM: HEADERS is STREAM_CLOSED", P .. "headers 1 :path=/slow :method=POST; rst 1 8; headers 1 end; wait 0.3", "either", 5 },
  { "5.1 closed after END_STREAM: DATA is STREAM_CLOSED", P .. "headers 1 end; wait 0.2; data 1 4; wait 0.3", "either", 5 },
  { "5.1 closed after END_STREAM: HEADERS is STREAM_CLOSED", P .. "headers 1 end; wait 0.2; headers 1 end; wait 0.3", "goaway", 5 },
  -- 5.1.1 stream identifiers
  { "5.1.1 an even stream id from a client is a PROTOCOL_ERROR", P .. "headers 2 end; wait 0.3", "goaway", 1 },
  { "5.1.1 a stream id lower than one already used is a PROTOCOL_ERROR", P .. "headers 5 end; wait 0.2; headers 3 end; wait 0.3", "goaway", 1 },
  -- 5.1.2 concurrency
  { "5.1.2 streams over SETTINGS_MAX_CONCURRENT_STREAMS are refused", "preface; settings; wait 0.1; settings-ack; " ..
      "headers 1 :path=/slow end; headers 3 :path=/slow end; headers 5 :path=/slow end; wait 0.3", "refused", nil, { maxConcurrentStreams = 2 } },
  -- 5.3.1 dependencies
  { "5.3.1 HEADERS depending on itself is a PROTOCOL_ERROR", P .. "frame 1 37 1 0000000110" .. GET .. "; wait 0.3", "either", 1 },
  { "5.3.1 PRIORITY depending on itself is a PROTOCOL_ERROR", P .. "priority 1 1 16; wait 0.3", "either", 1 },
  -- 5.5 extensions
  { "5.5 an unknown frame inside a header block is a PROTOCOL_ERROR", P .. "frame 1 1 1 8286; frame 99 0 1 00; wait 0.3", "goaway", 1 },
  -- 6.1 DATA
  { "6.1 DATA on stream 0 is a PROTOCOL_ERROR", P .. "frame 0 0 0 6162; wait 0.3", "goaway", 1 },
  { "6.1 DATA with a pad length past the payload is a PROTOCOL_ERROR", P .. "headers 1 :method=POST :path=/echo; frame 0 8 1 0a6162; wait 0.3", "goaway", 1 },
  -- 6.2 HEADERS
  { "6.2 HEADERS on stream 0 is a PROTOCOL_ERROR", P .. "frame 1 5 0 " .. GET .. "; wait 0.3", "goaway", 1 },
  { "6.2 HEADERS with a pad length past the payload is a PROTOCOL_ERROR", P .. "frame 1 13 1 ff" .. GET .. "; wait 0.3", "goaway", 1 },
  -- 6.3 PRIORITY
  { "6.3 PRIORITY on stream 0 is a PROTOCOL_ERROR", P .. "frame 2 0 0 0000000010; wait 0.3", "goaway", 1 },
  { "6.3 PRIORITY of length 4 is a FRAME_SIZE_ERROR", P .. "frame 2 0 1 00000000; wait 0.3", "either", 6 },
  -- 6.4 RST_STREAM
  { "6.4 RST_STREAM on stream 0 is a PROTOCOL_ERROR", P .. "frame 3 0 0 00000008; wait 0.3", "goaway", 1 },
  { "6.4 RST_STREAM of length 3 is a FRAME_SIZE_ERROR", P .. "headers 1 :path=/slow end; frame 3 0 1 000008; wait 0.3", "goaway", 6 },
  -- 6.5 SETTINGS
  { "6.5 SETTINGS ACK with a payload is a FRAME_SIZE_ERROR", P .. "frame 4 1 0 000100001000; wait 0.3", "goaway", 6 },
  { "6.5 SETTINGS on a stream is a PROTOCOL_ERROR", P .. "frame 4 0 1 000100001000; wait 0.3", "goaway", 1 },
  { "6.5 SETTINGS of length 3 is a FRAME_SIZE_ERROR", P .. "frame 4 0 0 000100; wait 0.3", "goaway", 6 },
  { "6.5.2 ENABLE_PUSH of 2 is a PROTOCOL_ERROR", P .. "settings 2=2; wait 0.3", "goaway", 1 },
  { "6.5.2 INITIAL_WINDOW_SIZE over 2^31-1 is a FLOW_CONTROL_ERROR", P .. "settings 4=2147483648; wait 0.3", "goaway", 3 },
  { "6.5.2 MAX_FRAME_SIZE under 16384 is a PROTOCOL_ERROR", P .. "settings 5=16383; wait 0.3", "goaway", 1 },
  { "6.5.2 MAX_FRAME_SIZE over 2^24-1 is a PROTOCOL_ERROR", P .. "settings 5=16777216; wait 0.3", "goaway", 1 },
  { "6.5.2 unknown settings are ignored", P .. "settings 255=1; wait 0.2", "settingsack" },
  { "6.5.3 SETTINGS are acknowledged", "preface; settings 1=4096 3=100 4=65535; wait 0.3", "settingsack" },
  -- 6.7 PING
  { "6.7 PING is answered with the same payload", P .. "ping abcdefgh; wait 0.2", "pingack", "6162636465666768" },
  { "6.7 a PING ACK is not answered", P .. "ping ack abcdefgh; wait 0.2", "nopingack" },
  -- (Node.js ends the session on a PING ACK for no PING of its own; the
  -- RFC only forbids answering it, and h2spec 6.7/2 checks the
  -- connection goes on: so do we)
  { "6.7 after a PING ACK we never asked for, the session goes on (h2spec 6.7/2)", P .. "ping ack abcdefgh; ping; wait 0.2", "pingack" },
  { "6.7 PING on a stream is a PROTOCOL_ERROR", P .. "frame 6 0 1 6162636465666768; wait 0.3", "goaway", 1 },
  { "6.7 PING of length 7 is a FRAME_SIZE_ERROR", P .. "frame 6 0 0 61626364656667; wait 0.3", "goaway", 6 },
  -- 6.8 GOAWAY
  { "6.8 GOAWAY on a stream is a PROTOCOL_ERROR", P .. "frame 7 0 1 0000000000000000; wait 0.3", "goaway", 1 },
  -- 6.9 WINDOW_UPDATE
  { "6.9 a zero increment on the connection is a PROTOCOL_ERROR", P .. "window 0 0; wait 0.3", "goaway", 1 },
  { "6.9 a zero increment on a stream is a PROTOCOL_ERROR", P .. "headers 1 :path=/slow end; window 1 0; wait 0.3", "either", 1 },
  { "6.9 WINDOW_UPDATE of length 3 is a FRAME_SIZE_ERROR", P .. "frame 8 0 0 000001; wait 0.3", "goaway", 6 },
  { "6.9.1 a connection window over 2^31-1 is a FLOW_CONTROL_ERROR", P .. "window 0 2147483647; wait 0.3", "goaway", 3 },
  { "6.9.1 a stream window over 2^31-1 is a FLOW_CONTROL_ERROR", P .. "headers 1 :path=/slow end; window 1 2147483647; wait 0.3", "either", 3 },
  { "6.9.1 INITIAL_WINDOW_SIZE of 1 gets DATA of 1 octet", "preface; settings 4=1; settings-ack; headers 1 end; wait 0.3", "datalen", 1 },
  { "6.9.2 INITIAL_WINDOW_SIZE pushing a stream window over 2^31-1 is a FLOW_CONTROL_ERROR", P .. "headers 1 :path=/slow end; window 1 2147418112; settings 4=2147483647; wait 0.3", "either", 3 },
  -- 6.10 CONTINUATION
  { "6.10 HEADERS and CONTINUATIONs make one block", P .. "frame 1 1 1 8286; frame 9 0 1 84; frame 9 4 1 41096c6f63616c686f7374; wait 0.3", "status", 200 },
  { "6.10 a CONTINUATION followed by another frame is a PROTOCOL_ERROR", P .. "frame 1 1 1 8286; frame 9 0 1 84; ping; wait 0.3", "goaway", 1 },
  { "6.10 CONTINUATION on stream 0 is a PROTOCOL_ERROR", P .. "frame 1 1 1 8286; frame 9 4 0 84; wait 0.3", "goaway", 1 },
  { "6.10 CONTINUATION after END_HEADERS is a PROTOCOL_ERROR", P .. "frame 1 4 1 " .. GET .. "; frame 9 4 1 84; wait 0.3", "goaway", 1 },
  { "6.10 CONTINUATION after DATA is a PROTOCOL_ERROR", P .. "headers 1 :method=POST :path=/echo; data 1 4; frame 9 4 1 84; wait 0.3", "goaway", 1 },
  -- 7 error codes
  { "7 an unknown code in GOAWAY is not an error", P .. "goaway 0 255; wait 0.2", "noerror" },
  { "7 an unknown code in RST_STREAM is not an error", P .. "headers 1 :path=/slow end; rst 1 255; ping; wait 0.2", "pingack" },
  -- 8.1 HTTP messages
  { "8.1 a second HEADERS without END_STREAM is a PROTOCOL_ERROR", P .. "headers 1 :method=POST :path=/echo; headers 1 x-trailer=1; wait 0.3", "either", 1 },
  { "8.2.1 an upper-case field name is a PROTOCOL_ERROR", P .. "headers 1 end X-Upper=1; wait 0.3", "either", 1 },
  { "8.2.2 a connection-specific field is a PROTOCOL_ERROR", P .. "headers 1 end connection=keep-alive; wait 0.3", "either", 1 },
  { "8.2.2 TE other than trailers is a PROTOCOL_ERROR", P .. "headers 1 end te=gzip; wait 0.3", "either", 1 },
  { "8.3 an unknown pseudo-header is a PROTOCOL_ERROR", P .. "headers 1 end :foo=bar; wait 0.3", "either", 1 },
  { "8.3 :status in a request is a PROTOCOL_ERROR", P .. "headers 1 end :status=200; wait 0.3", "either", 1 },
  { "8.3 a pseudo-header in trailers is a PROTOCOL_ERROR", P .. "headers 1 :method=POST :path=/echo; headers 1 end raw :path=/; wait 0.3", "either", 1 },
  { "8.3 a pseudo-header after a regular field is a PROTOCOL_ERROR", P .. "headers 1 end raw :method=GET :scheme=http x-a=1 :path=/ :authority=a; wait 0.3", "either", 1 },
  { "8.3.1 an empty :path is a PROTOCOL_ERROR", P .. "headers 1 end :path=; wait 0.3", "either", 1 },
  { "8.3.1 a missing :method is a PROTOCOL_ERROR", P .. "headers 1 end raw :scheme=http :path=/ :authority=a; wait 0.3", "either", 1 },
  { "8.3.1 a missing :scheme is a PROTOCOL_ERROR", P .. "headers 1 end raw :method=GET :path=/ :authority=a; wait 0.3", "either", 1 },
  { "8.3.1 a missing :path is a PROTOCOL_ERROR", P .. "headers 1 end raw :method=GET :scheme=http :authority=a; wait 0.3", "either", 1 },
  { "8.3.1 a duplicated :method is a PROTOCOL_ERROR", P .. "headers 1 end :method=GET :method=GET; wait 0.3", "either", 1 },
  { "8.1.1 content-length that the DATA does not match is a PROTOCOL_ERROR", P .. "headers 1 :method=POST :path=/echo content-length=10; data 1 4 end; wait 0.3", "either", 1 },
  { "8.4 PUSH_PROMISE from a client is a PROTOCOL_ERROR", P .. "headers 1 :path=/slow end; frame 5 4 1 00000002" .. GET .. "; wait 0.3", "goaway", 1 },
  -- RFC 7541
  { "7541 2.3.3 an index past the tables is a COMPRESSION_ERROR", P .. "frame 1 5 1 c6; wait 0.3", "goaway", 9 },
  { "7541 4.2 a table size update over the setting is a COMPRESSION_ERROR", P .. "frame 1 5 1 3fe13f" .. GET .. "; wait 0.3", "goaway", 9 },
  { "7541 5.2 EOS in a Huffman string is a COMPRESSION_ERROR", P .. "frame 1 5 1 828684" .. "0484ffffffff" .. "; wait 0.3", "goaway", 9 },
  { "7541 5.2 Huffman padding over 7 bits is a COMPRESSION_ERROR", P .. "frame 1 5 1 828684" .. "04821fff" .. "; wait 0.3", "goaway", 9 },
  { "7541 5.2 Huffman padding not of EOS bits is a COMPRESSION_ERROR", P .. "frame 1 5 1 828684" .. "048118" .. "; wait 0.3", "goaway", 9 },
  { "7541 6.1 index 0 is a COMPRESSION_ERROR", P .. "frame 1 5 1 80; wait 0.3", "goaway", 9 },
  { "7541 6.3 a table size update after a field is a COMPRESSION_ERROR", P .. "frame 1 5 1 8220" .. "; wait 0.3", "goaway", 9 },
}

local function frames(out)
  local list = {}
  for line in out:gmatch("[^\n]+") do list[#list + 1] = line end
  return list
end

local function find(list, pattern)
  for _, l in ipairs(list) do
    local a, b, c = l:match(pattern)
    if a then return a, b, c end
  end
end

local function check(kind, arg, out)
  local l = frames(out)
  local gcode = find(l, "^GOAWAY .* code=(%d+)")
  local rcode = find(l, "^RST_STREAM .* code=(%d+)")
  gcode, rcode = tonumber(gcode), tonumber(rcode)
  if kind == "goaway" then
    assert(gcode == arg, "wanted GOAWAY(" .. arg .. "), got:\n" .. out)
  elseif kind == "either" then
    assert(rcode == arg or gcode == arg, "wanted RST_STREAM or GOAWAY(" .. arg .. "), got:\n" .. out)
  elseif kind == "goawayclosed" then
    assert(gcode == arg, "wanted GOAWAY(" .. arg .. "), got:\n" .. out)
    assert(find(l, "^(EOF)"), "wanted the connection closed, got:\n" .. out)
  elseif kind == "pingack" then
    local p = find(l, "^PING stream=0 flags=1 len=8 payload=(%x+)")
    assert(p, "wanted a PING ACK, got:\n" .. out)
    if arg then assert(p == arg, "PING ACK payload " .. p) end
    assert(not gcode, "unexpected GOAWAY:\n" .. out)
  elseif kind == "nopingack" then
    assert(not find(l, "^(PING stream=0 flags=1)"), "a PING ACK was answered:\n" .. out)
    assert(not gcode, "unexpected GOAWAY:\n" .. out)
  elseif kind == "nopingack-goaway" then
    assert(not find(l, "^(PING stream=0 flags=1)"), "a PING ACK was answered:\n" .. out)
    assert(gcode == arg, "wanted GOAWAY(" .. arg .. "), got:\n" .. out)
  elseif kind == "settingsack" then
    assert(find(l, "^(SETTINGS stream=0 flags=1)"), "wanted a SETTINGS ACK, got:\n" .. out)
    assert(not gcode, "unexpected GOAWAY:\n" .. out)
  elseif kind == "status" then
    assert(find(l, "^HEADERS .* :status=(" .. arg .. ")"), "wanted :status " .. arg .. ", got:\n" .. out)
    assert(not gcode, "unexpected GOAWAY:\n" .. out)
  elseif kind == "datalen" then
    assert(find(l, "^DATA stream=1 flags=%d+ len=(" .. arg .. ")%f[%D]"), "wanted DATA of " .. arg .. ", got:\n" .. out)
  elseif kind == "refused" then
    assert(rcode == 7 or gcode == 1 or rcode == 1, "wanted REFUSED_STREAM, got:\n" .. out)
  elseif kind == "noerror" then
    assert(not gcode or gcode == 0, "unexpected GOAWAY:\n" .. out)
  end
end

describe("wire conformance", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  for _, c in ipairs(cases) do
    local name, actions, kind, arg, settings = c[1], c[2], c[3], c[4], c[5]
    it(name, function()
      H.run(function()
        local server = http2.createServer({ settings = settings })
        server:on("stream", function(stream, headers)
          if headers[":path"] == "/slow" then h2lua.sleep(600) end
          if headers[":path"] == "/echo" then stream:readAll() end
          if not stream.destroyed then
            stream:respond()
            stream:finish("ok")
          end
        end)
        local port = H.listen(server)
        local rc, out, err = H.sh(H.PY .. " " .. H.CLIENTS .. "/h2raw.py " .. port .. " " .. H.shq(actions), 20)
        assert.equal(0, rc, err)
        check(kind, arg, out)
        -- the server is still fine for everyone else
        local rc2, body = H.sh("curl -s -m 5 --http2-prior-knowledge http://127.0.0.1:" .. port .. "/")
        assert.equal(0, rc2)
        assert.equal("ok", body)
      end)
    end)
  end
end)
