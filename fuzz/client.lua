-- The fuzz target "client": our client session against a peer that sends
-- the fuzzer's bytes as the server's. Three requests (a GET, a POST with
-- a body and trailers, a HEAD), their responses read to the end; pushes
-- taken; every session event listened to.
local http2 = require "http2"
local h2lua = require "h2lua"
local F = require "common"
local guard, noop = F.guard, F.noop

local function read_response(req)
  req:on("error", noop)
  req:on("push", noop)
  req:on("headers", noop)
  req:on("trailers", noop)
  local headers, why = req:wait("response")
  F.trace("response", headers and headers[":status"] or why)
  if headers then F.trace("body", #(req:readAll() or "")) end
end

-- Node's defaults, and small limits (an input of odd length)
local options = {
  { settings = { enablePush = true } },
  { settings = { enablePush = true, initialWindowSize = 100, maxHeaderListSize = 400,
      headerTableSize = 64, maxConcurrentStreams = 1 },
    maxSessionMemory = 1, maxHeaderListPairs = 8, maxReservedRemoteStreams = 1,
    maxSessionInvalidFrames = 3, maxSettings = 4, peerMaxConcurrentStreams = 2 },
}

local function one(port, size)
  local session = http2.connect("http://127.0.0.1:" .. port, options[size % 2 + 1])
  session:on("error", noop)
  session:on("frameError", noop)
  session:on("goaway", noop)
  session:on("altsvc", noop)
  session:on("origin", noop)
  session:on("remoteSettings", noop)
  session:on("localSettings", noop)
  session:on("stream", function(pushed)
    pushed:on("error", noop)
    h2lua.spawn(function() guard(function() pushed:readAll() end) end)
  end)
  local reqs = {}
  guard(function()
    reqs[1] = session:request({ [":path"] = "/" })
    local post = session:request({ [":method"] = "POST", [":path"] = "/echo" }, { waitForTrailers = true })
    post:on("wantTrailers", function() guard(function() post:sendTrailers({ ["x-t"] = "1" }) end) end)
    post:write("hello ")
    post:finish("world")
    reqs[2] = post
    reqs[3] = session:request({ [":method"] = "HEAD", [":path"] = "/h" })
  end)
  for _, req in ipairs(reqs) do guard(read_response, req) end
  guard(function() session:close() end)
end

function _G.fuzz_setup() return 0 end

function _G.fuzz_one(port, size)
  h2lua.spawn(function() guard(one, port, size) end)
  return 0
end
