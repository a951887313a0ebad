-- h2lua.compress (beyond Node): gzip and brotli of dynamic responses, for
-- clients whose Accept-Encoding takes them and types that compress.
-- Streamed: each write is compressed as it comes, and what a turn of the
-- handler wrote is flushed when it waits or returns, so nothing holds a
-- whole body and every write reaches the client without waiting for more. A handler opts in with one line:
--   stream = compress.wrap(stream, headers)   -- the stream API
--   res = compress.wrap(res)                  -- the Compatibility API
-- after which respond/write/finish (writeHead/write/end) go as before.
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local core = sched.core

local M = {}

-- The codings we produce, best first (brotli is smaller at equal cost).
M.ENCODINGS = { "br", "gzip" }

-- M.encoder(coding[, level][, window]) -> encoder: a streaming encoder
-- ("br", "gzip" or "deflate"); enc:update(data[, flush]) -> bytes (all
-- of data's unless flush is false), enc:finish([data]) -> the last
-- bytes, enc:close(). level: zlib 0-9 (6) or brotli quality 0-11 (4);
-- window: zlib 9-15 bits (15) or brotli 10-24 (19).
function M.encoder(coding, level, window)
  return core.encoder_new(coding, level, window)
end

-- Accept-Encoding's weights: name -> q (and "*").
local function weights(ae)
  if type(ae) == "table" then ae = table.concat(ae, ",") end
  local q = {}
  if type(ae) ~= "string" then return q end
  for item in ae:gmatch("[^,]+") do
    local name, params = item:match("^%s*([^;%s]+)%s*(.*)$")
    if name then
      name = name:lower()
      local v = 1
      local qs = params:match(";%s*[qQ]%s*=%s*([%d%.]+)")
      if qs then v = tonumber(qs) or 0 end
      if name == "x-gzip" then name = "gzip" end
      if q[name] == nil or v > q[name] then q[name] = v end
    end
  end
  return q
end

-- M.negotiate(acceptEncoding[, offered]) -> the coding of |offered|
-- (default M.ENCODINGS, in order of preference) the client takes with the
-- highest weight, or nil: identity
function M.negotiate(ae, offered)
  if ae == nil then return nil end
  local q = weights(ae)
  local star = q["*"]
  local best, bestq = nil, 0
  for _, c in ipairs(offered or M.ENCODINGS) do
    local v = q[c]
    if v == nil then v = star end
    if v and v > bestq then best, bestq = c, v end
  end
  return best
end

local COMPRESSIBLE = {
  ["application/javascript"] = true, ["application/x-javascript"] = true,
  ["application/ecmascript"] = true, ["application/wasm"] = true,
  ["application/x-ndjson"] = true, ["application/x-sh"] = true,
  ["application/rtf"] = true, ["application/postscript"] = true,
  ["application/x-tar"] = true, ["application/vnd.ms-fontobject"] = true,
  ["font/ttf"] = true, ["font/otf"] = true, ["font/collection"] = true,
  ["image/bmp"] = true, ["image/x-icon"] = true, ["image/vnd.microsoft.icon"] = true,
}

-- M.compressible(contentType) -> whether bodies of that type shrink:
-- text/*, JSON and XML (and their +json/+xml kinds), JavaScript, wasm,
-- uncompressed fonts and images; not images, audio, video or archives
-- that are compressed already
function M.compressible(ct)
  if type(ct) == "table" then ct = ct[1] end
  if type(ct) ~= "string" then return false end
  local t = ct:match("^%s*([^;%s]+)")
  if not t then return false end
  t = t:lower()
  if t:find("^text/") or t:find("[/+]json$") or t:find("[/+]xml$") then return true end
  return COMPRESSIBLE[t] == true
end

-- Vary with accept-encoding added (once).
local function add_vary(v)
  if type(v) == "table" then v = table.concat(v, ", ") end
  if v == nil or v == "" then return "accept-encoding" end
  v = tostring(v)
  for item in v:gmatch("[^,]+") do
    local n = item:match("^%s*(.-)%s*$"):lower()
    if n == "accept-encoding" or n == "*" then return v end
  end
  return v .. ", accept-encoding"
end

-- A strong ETag names one representation: the compressed one is another,
-- so it becomes weak (W/"...").
local function weak(etag)
  if type(etag) == "string" and etag:sub(1, 1) == '"' then return "W/" .. etag end
  return etag
end

local function options_of(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(opts))
  end
  return {
    encodings = opts.encodings or M.ENCODINGS,
    level = opts.level, quality = opts.quality,
    minSize = opts.minSize or 256,
    types = opts.types or M.compressible,
    flush = opts.flush ~= false,
  }
end

-- What the response's headers decide. |get(name)| reads a header (lower
-- case). -> coding or nil, and whether Vary must name accept-encoding.
local function decide(self, status, get, no_body)
  status = tonumber(status) or 200
  if status < 200 or status == 204 or status == 206 or status == 304 then return nil, false end
  if not self.o.types(get("content-type")) then return nil, false end
  local ce = get("content-encoding")
  if ce ~= nil and ce ~= "identity" then return nil, false end
  local cc = get("cache-control")
  if type(cc) == "table" then cc = table.concat(cc, ",") end
  if type(cc) == "string" and cc:lower():find("no-transform", 1, true) then return nil, true end
  local cl = tonumber(get("content-length"))
  if cl and cl < self.o.minSize then return nil, true end
  if no_body then return nil, true end
  return M.negotiate(self.accept, self.o.encodings), true
end

local function new_encoder(self, target, on_close)
  local o = self.o
  local enc = core.encoder_new(self.coding,
    self.coding == "br" and o.quality or o.level, nil)
  self.enc = enc
  -- the encoder's state (zlib's 256 KiB, brotli's window) is outside
  -- Lua's heap: free it when the stream ends, whatever the handler does
  on_close(function() enc:close() end)
  return enc
end

local HIGH_WATER_MARK = 16384 -- the streams' (http2/stream.lua)

local function stream_of(t) return type(t) == "table" and rawget(t, "stream") or t end

-- The end of the turn: what this turn's writes left in the encoder goes
-- out, so a write is on the wire once the handler waits or returns, and
-- many small writes in one turn share one flush.
local function flush_turn(self)
  self.queued = false
  local t, enc = self.target, self.enc
  local st = stream_of(t)
  if self.ended or not enc or st.destroyed or st.closed or st.writableEnded then return end
  local out = enc:update("", true)
  if out ~= "" then t:write(out) end
end

-- Writes what the encoder gave for one write (often nothing yet) and
-- answers as the stream would: false while its buffer is above the
-- high-water mark (a 'drain' is then due: the write that filled it
-- returned false too).
local function put(self, t, out, cb)
  if self.o.flush and not self.queued then
    self.queued = true
    sched.defer(flush_turn, self)
  end
  if out ~= "" then return t:write(out, cb) end
  if type(cb) == "function" then sched.defer(cb) end
  return (stream_of(t).bufferSize or 0) < HIGH_WATER_MARK
end

local STATE = {} -- the key of a proxy's own state (no string can clash)

-- A proxy: our methods, the target's others bound to it, fields read and
-- written through.
local function proxy(target, own, state)
  local p = { [STATE] = state }
  return setmetatable(p, {
    __name = "h2lua.compress.Proxy",
    __index = function(t, k)
      local m = own[k]
      if m then return m end
      local v = target[k]
      if type(v) == "function" then
        local f = function(s, ...)
          if s == t then s = target end
          return v(s, ...)
        end
        rawset(t, k, f)
        return f
      end
      return v
    end,
    __newindex = function(_, k, v) target[k] = v end,
  })
end

-- The stream API ---------------------------------------------------------

local S = {}

local function stream_close_hook(target)
  return function(fn) target:once("close", fn) end
end

function S.respond(p, headers, options)
  local self = p[STATE]
  local t = self.target
  if headers ~= nil and type(headers) == "table" and not t.headersSent and not self.decided then
    self.decided = true
    local lower = {}
    for k, v in pairs(headers) do
      if type(k) == "string" then lower[k:lower()] = k end
    end
    local function get(n) local k = lower[n] return k and headers[k] end
    local no_body = type(options) == "table" and options.endStream == true
    local coding, vary = decide(self, headers[":status"], get, no_body)
    if vary or coding then
      local h = {}
      for k, v in pairs(headers) do h[k] = v end
      if vary then
        local vk = lower.vary
        local v = add_vary(vk and h[vk])
        if vk then h[vk] = nil end
        h.vary = v
      end
      if coding then
        if lower["content-length"] then h[lower["content-length"]] = nil end
        if lower.etag then h[lower.etag] = weak(h[lower.etag]) end
        if lower["content-encoding"] then h[lower["content-encoding"]] = nil end
        h["content-encoding"] = coding
        -- HEAD gets the headers GET would; only a body is encoded
        if not t._head then self.coding = coding end
      end
      headers = h
    end
  end
  self.decided = true
  return t:respond(headers, options)
end

function S.write(p, data, cb)
  local self = p[STATE]
  local t = self.target
  if not self.decided and not t.headersSent then S.respond(p, {}) end
  if not self.coding or t.writableEnded or t.destroyed or type(data) ~= "string" then
    return t:write(data, cb)
  end
  local enc = self.enc or new_encoder(self, t, stream_close_hook(t))
  return put(self, t, enc:update(data, false), cb)
end

function S.finish(p, data, cb)
  local self = p[STATE]
  local t = self.target
  if type(data) == "function" then data, cb = nil, data end
  if not self.decided and not t.headersSent then S.respond(p, {}) end
  if self.coding and not self.ended and not t.writableEnded and not t.destroyed
    and (data == nil or type(data) == "string") then
    self.ended = true
    local enc = self.enc or new_encoder(self, t, stream_close_hook(t))
    data = enc:finish(data)
  end
  t:finish(data, cb)
  return p
end
S["end"] = S.finish

-- The Compatibility API --------------------------------------------------

local R = {}

local function compat_decide(self, code)
  if self.decided then return end
  self.decided = true
  local t = self.target
  if t.headersSent then return end
  local function get(n) return t:getHeader(n) end
  local st = t.stream
  local coding, vary = decide(self, code or t.statusCode, get, false)
  if vary then t:setHeader("vary", add_vary(t:getHeader("vary"))) end
  if coding then
    t:removeHeader("content-length")
    local etag = t:getHeader("etag")
    if etag then t:setHeader("etag", weak(etag)) end
    t:setHeader("content-encoding", coding)
    if not st._head then self.coding = coding end
  end
end

function R.writeHead(p, code, msg, headers)
  local self = p[STATE]
  local t = self.target
  if headers == nil and type(msg) == "table" then headers, msg = msg, nil end
  if type(headers) == "table" and not t.headersSent then
    -- the headers as setHeader would take them, so the decision sees them
    if #headers > 0 then
      local list = {}
      if type(headers[1]) == "table" then
        for _, pair in ipairs(headers) do list[#list + 1] = pair end
      else
        for i = 1, #headers, 2 do list[#list + 1] = { headers[i], headers[i + 1] } end
      end
      for _, f in ipairs(list) do t:removeHeader(f[1]) end
      for _, f in ipairs(list) do t:appendHeader(f[1], f[2]) end
    else
      for k, v in pairs(headers) do
        if type(k) == "string" then t:setHeader(k, v) end
      end
    end
  end
  compat_decide(self, code)
  if type(msg) == "string" then t:writeHead(code, msg) else t:writeHead(code) end
  return p
end

function R.flushHeaders(p)
  compat_decide(p[STATE])
  p[STATE].target:flushHeaders()
end

local function raw_chunk(chunk, encoding)
  if encoding ~= nil then
    local e = tostring(encoding):lower()
    if e == "hex" or e == "base64" then
      errors.raise("ERR_INVALID_ARG_VALUE", "encoding", encoding, "not with compression")
    end
  end
  return chunk
end

local function compat_close_hook(t)
  return function(fn) t.stream:once("close", fn) end
end

local function compat_live(self)
  local t = self.target
  local st = t.stream
  return self.coding and not self.ended and not t.writableEnded
    and not st.destroyed and not st.closed
end

function R.write(p, chunk, encoding, cb)
  local self = p[STATE]
  local t = self.target
  if type(encoding) == "function" then encoding, cb = nil, encoding end
  compat_decide(self)
  if not compat_live(self) or type(chunk) ~= "string" then
    return t:write(chunk, encoding, cb)
  end
  local enc = self.enc or new_encoder(self, t, compat_close_hook(t))
  t:flushHeaders()
  return put(self, t, enc:update(raw_chunk(chunk, encoding), false), cb)
end

function R.finish(p, data, encoding, cb)
  local self = p[STATE]
  local t = self.target
  if type(data) == "function" then data, encoding, cb = nil, nil, data
  elseif type(encoding) == "function" then encoding, cb = nil, encoding end
  compat_decide(self)
  if compat_live(self) and (data == nil or type(data) == "string") then
    self.ended = true
    local enc = self.enc or new_encoder(self, t, compat_close_hook(t))
    data, encoding = enc:finish(raw_chunk(data, encoding)), nil
  end
  t:finish(data, encoding, cb)
  return p
end
R["end"] = R.finish

local function is_response(v)
  return type(v) == "table" and rawget(v, "stream") ~= nil and rawget(v, "req") ~= nil
    and type(v.writeHead) == "function"
end

-- M.wrap(stream, requestHeaders[, options]) -> a stream that compresses
-- M.wrap(res[, options]) -> a response that compresses (for what res.req
-- accepts)
-- The body is compressed when the client accepts a coding of
-- options.encodings (default M.ENCODINGS), the response's content-type
-- passes options.types (default M.compressible), it has a body and no
-- content-encoding, no cache-control: no-transform, and no content-length
-- below options.minSize (256). Vary names accept-encoding whenever the
-- type is compressible. Each write is compressed at once, and the writes
-- of one turn are flushed together when the handler waits or returns
-- (options.flush = false: only when the encoder's block is full, or at
-- the end);
-- options.level (gzip, 0-9) and options.quality (brotli, 0-11) trade CPU
-- for size. Everything else is the wrapped object's.
function M.wrap(obj, headers, opts)
  if is_response(obj) then
    local req = obj.req
    if type(headers) == "table" and rawget(headers, "stream") ~= nil then
      req = headers -- wrap(res, req[, options])
    else
      opts = headers -- wrap(res[, options])
    end
    local h = req and rawget(req, "headers") or {}
    local state = { target = obj, o = options_of(opts), accept = h["accept-encoding"] }
    return proxy(obj, R, state)
  end
  if type(headers) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "headers", "of type table", errors.describe(headers))
  end
  local state = { target = obj, o = options_of(opts), accept = headers["accept-encoding"] }
  return proxy(obj, S, state)
end

return M
