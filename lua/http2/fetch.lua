-- h2lua.fetch: one request in straight-line style, for scripts and
-- prototyping. One session per origin is kept and reused; it does not keep
-- the process alive once no fetch is in flight.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local client = require "http2.client"

local M = {}
local sessions = {}   -- origin -> session
local inflight = {}   -- session -> count of fetches on it

local function session_for(origin)
  local s = sessions[origin]
  if s and not s.destroyed and not s.closed then return s end
  s = client.connect(origin)
  sessions[origin] = s
  s:on("error", function() end) -- fetch reports errors as nil, err
  s:on("close", function() if sessions[origin] == s then sessions[origin] = nil end end)
  s:on("goaway", function() if sessions[origin] == s then sessions[origin] = nil end end)
  s:unref()
  return s
end

local function hold(s, d)
  local n = (inflight[s] or 0) + d
  inflight[s] = n > 0 and n or nil
  if n > 0 and d > 0 and n == 1 then s:ref() elseif n <= 0 then s:unref() end
end

local function failure(s, stream, why)
  if s._destroy_err then return nil, s._destroy_err end
  if stream and stream.rstCode and stream.rstCode ~= 0 then
    local name = require("http2.stream").code_names[stream.rstCode] or tostring(stream.rstCode)
    return nil, errors.new("ERR_HTTP2_STREAM_ERROR", name)
  end
  return nil, why
end

-- h2lua.fetch(url[, {method=, headers=, body=, timeout=, limit=}]) ->
-- status, headers, body | nil, err (an error object, "timeout" or
-- "closed"); |limit| is readAll's (ERR_BUFFER_TOO_LARGE past it).
-- Waits: call it inside a coroutine. Should never throw but for misuse.
function M.fetch(url, opts)
  sched.current("h2lua.fetch")
  if opts ~= nil and type(opts) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(opts))
  end
  opts = opts or {}
  local protocol, host, port = client.parse_authority(url)
  local path = type(url) == "string" and url:match("^%a[%w+.-]*://[^/?#]*(.*)$") or ""
  if path == "" or path:byte(1) ~= 47 then path = "/" .. path end
  local origin = protocol .. "//" .. (host:find(":") and "[" .. host .. "]" or host) .. ":" .. port
  local timeout = opts.timeout or 30000
  local s = session_for(origin)
  hold(s, 1)
  local ok, a, b, c = pcall(function()
    if s.connecting then
      local got, why = s:wait("connect", timeout)
      if not got then return failure(s, nil, why) end
    end
    local h = { [":method"] = opts.method or "GET", [":path"] = path }
    for k, v in pairs(opts.headers or {}) do h[k] = v end
    local body = opts.body
    local req = s:request(h, { endStream = body == nil })
    if body ~= nil then req:finish(body) end
    local headers, why = req:wait("response", timeout)
    if not headers then
      if not req.destroyed then req:close(8) end
      return failure(s, req, why)
    end
    local data, why2 = req:readAll({ limit = opts.limit })
    if data == nil then
      local x, err = failure(s, req, why2)
      if not req.destroyed then req:close(8) end -- over the limit: the rest is not wanted
      return x, err
    end
    return headers[":status"], headers, data
  end)
  hold(s, -1)
  if not ok then error(a, 0) end
  return a, b, c
end

return M
