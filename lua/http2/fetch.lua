-- h2lua.fetch: one request in straight-line style, for scripts and
-- prototyping. One session per origin (and TLS options) is kept and
-- reused; an idle one does not keep the process alive, and one to a server
-- of this process is closed when that server closes (else the server would
-- wait for it forever).
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local client = require "http2.client"

local M = {}
local sessions = {}   -- pool key -> session
local inflight = {}   -- session -> count of fetches on it

-- the options of http2.connect that fetch passes on; they key the pool too
local TLS_KEYS = { "ca", "cert", "key", "passphrase", "rejectUnauthorized", "servername",
  "ciphers", "minVersion", "maxVersion" }

local function pool_key(origin, opts)
  local parts = { origin }
  for _, k in ipairs(TLS_KEYS) do
    local v = opts[k]
    if type(v) == "table" then v = table.concat(v, "\0") end
    if v ~= nil then parts[#parts + 1] = k .. "=" .. tostring(v) end
  end
  return table.concat(parts, "\1")
end

local function session_for(origin, opts)
  local key = pool_key(origin, opts)
  local s = sessions[key]
  if s and not s.destroyed and not s.closed then return s end
  local copt
  for _, k in ipairs(TLS_KEYS) do
    if opts[k] ~= nil then copt = copt or {}; copt[k] = opts[k] end
  end
  s = client.connect(origin, copt)
  sessions[key] = s
  s:on("error", function() end) -- fetch reports errors as nil, err
  s:on("close", function() if sessions[key] == s then sessions[key] = nil end end)
  s:on("goaway", function() if sessions[key] == s then sessions[key] = nil end end)
  s:unref()
  return s
end

local function let_go(s)
  for k, v in pairs(sessions) do
    if v == s then sessions[k] = nil end
  end
  if not s.closed and not s.destroyed then s:close() end
end

local function hold(s, d)
  local n = (inflight[s] or 0) + d
  inflight[s] = n > 0 and n or nil
  if n > 0 and d > 0 and n == 1 then s:ref() elseif n <= 0 then
    s:unref()
    if s._fetch_let_go then let_go(s) end
  end
end

-- A server of this process closing: sessions to its port let go, the idle
-- ones now (a reconnect follows on the next fetch, wherever it goes).
table.insert(require("http2.server").close_hooks, function(address)
  local port = address and address.port
  if not port then return end
  for _, s in pairs(sessions) do
    local sock = s.socket
    if sock and sock.remotePort == port then
      if inflight[s] then s._fetch_let_go = true else let_go(s) end
    end
  end
end)

-- M.close(): closes every pooled session (gracefully: fetches in flight
-- finish); later fetches open new ones.
function M.close()
  local list = {}
  for _, s in pairs(sessions) do list[#list + 1] = s end
  for _, s in ipairs(list) do let_go(s) end
end

local function failure(s, stream, why)
  if s._destroy_err then return nil, s._destroy_err end
  if stream and stream.rstCode and stream.rstCode ~= 0 then
    local name = require("http2.stream").code_names[stream.rstCode] or tostring(stream.rstCode)
    return nil, errors.new("ERR_HTTP2_STREAM_ERROR", name)
  end
  return nil, why
end

-- h2lua.fetch(url[, {method=, headers=, body=, timeout=, limit=, and
-- http2.connect's ca=, cert=, key=, passphrase=, rejectUnauthorized=,
-- servername=, ciphers=, minVersion=, maxVersion=}]) -> status, headers,
-- body | nil, err (an error object, "timeout" or "closed"; a bad URL or
-- scheme or TLS option too); |limit| is readAll's (ERR_BUFFER_TOO_LARGE
-- past it).
-- Waits: call it inside a coroutine. Should never throw but for misuse.
function M.fetch(url, opts)
  sched.current("h2lua.fetch")
  if opts ~= nil and type(opts) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(opts))
  end
  opts = opts or {}
  local got, s, path = pcall(function()
    local protocol, host, port = client.parse_authority(url)
    local path = type(url) == "string" and url:match("^%a[%w+.-]*://[^/?#]*(.*)$") or ""
    if path == "" or path:byte(1) ~= 47 then path = "/" .. path end
    local origin = protocol .. "//" .. (host:find(":") and "[" .. host .. "]" or host) .. ":" .. port
    return session_for(origin, opts), path
  end)
  if not got then
    if type(s) == "table" and s.code then return nil, s end -- the URL, scheme or a TLS option
    error(s, 0)
  end
  local timeout = opts.timeout or 30000
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
