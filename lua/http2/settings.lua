-- HTTP/2 settings objects: validation with Node.js's ranges and errors,
-- the engine's flat (id, value) form, and the packed wire form of
-- getPackedSettings/getUnpackedSettings.
local errors = require "h2lua.errors"

local M = {}

local U32 = 0xffffffff
-- name, id, min, max, boolean?, max when only packed (in Node's packing
-- order). A window over 2^31-1 is no valid SETTINGS value (RFC 9113
-- 6.9.2) and nghttp2 refuses to send it: sessions keep that bound, the
-- packing functions take the document's 2^32-1.
local specs = {
  { "headerTableSize", 1, 0, U32 },
  { "enablePush", 2, nil, nil, true },
  { "maxConcurrentStreams", 3, 0, U32 },
  { "initialWindowSize", 4, 0, 0x7fffffff, nil, U32 },
  { "maxFrameSize", 5, 16384, 0xffffff },
  { "maxHeaderListSize", 6, 0, U32 },
  { "enableConnectProtocol", 8, nil, nil, true },
}
M.specs = specs

local function invalid(name, value, range)
  local e = errors.new("ERR_HTTP2_INVALID_SETTING_VALUE", name, tostring(value))
  e.name = range and "RangeError" or "TypeError"
  error(e, 3)
end

-- settings.validate(t) -> t with maxHeaderSize folded into maxHeaderListSize;
-- raises ERR_HTTP2_INVALID_SETTING_VALUE / ERR_INVALID_ARG_TYPE.
function M.validate(t, packing)
  if t == nil then return {} end
  if type(t) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "settings", "of type table", errors.describe(t))
  end
  local out = {}
  if t.maxHeaderSize ~= nil then
    local v = t.maxHeaderSize
    if type(v) ~= "number" or v < 0 or v > U32 then invalid("maxHeaderSize", v, true) end
    out.maxHeaderListSize = v
  end
  for _, s in ipairs(specs) do
    local name, v = s[1], t[s[1]]
    if v ~= nil then
      if s[5] then
        if type(v) ~= "boolean" then invalid(name, v, false) end
      elseif type(v) ~= "number" or v ~= v or v < s[3] or v > (packing and s[6] or s[4]) then
        invalid(name, v, true)
      end
      out[name] = v
    end
  end
  return out
end

local function intval(v)
  if v == true then return 1 elseif v == false then return 0 end
  return math.tointeger(math.floor(v))
end

-- settings.flatten(t) -> id1, v1, id2, v2, ... for the engine
function M.flatten(t)
  local out = {}
  for _, s in ipairs(specs) do
    local v = t and t[s[1]]
    if v ~= nil then
      out[#out + 1] = s[2]
      out[#out + 1] = intval(v)
    end
  end
  return table.unpack(out)
end

-- Options that are counts or sizes (Node validates some of them as uint32;
-- h2lua all).
local UINT32_OPTIONS = { "maxDeflateDynamicTableSize", "maxSettings",
  "maxSessionMemory", "maxHeaderListPairs", "maxOutstandingPings",
  "maxOutstandingSettings", "maxSendHeaderBlockLength", "paddingStrategy",
  "peerMaxConcurrentStreams", "maxSessionInvalidFrames",
  "maxSessionRejectedStreams", "unknownProtocolTimeout",
  "maxReservedRemoteStreams", "handshakeTimeout", "prefaceTimeout",
  "headersTimeout", "keepAliveTimeout" }

-- settings.validate_options(options) -> a copy with the numeric options
-- checked (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE) and made integers
function M.validate_options(options)
  local st = options.settings
  if st ~= nil and type(st) ~= "table" then
    local e = errors.new("ERR_INVALID_ARG_TYPE")
    e.message = ('The "options.settings" property must be of type table. Received %s'):format(errors.describe(st))
    error(e, 0)
  end
  local opts = {}
  for k, v in pairs(options) do opts[k] = v end
  for _, name in ipairs(UINT32_OPTIONS) do
    local v = options[name]
    if v ~= nil then
      if type(v) ~= "number" then
        errors.raise("ERR_INVALID_ARG_TYPE", "options." .. name, "of type number", errors.describe(v))
      end
      if v ~= math.floor(v) or v < 0 or v > 0xffffffff then
        errors.raise("ERR_OUT_OF_RANGE", "options." .. name, ">= 0 && <= 4294967295", v)
      end
      opts[name] = math.tointeger(v)
    end
  end
  if opts.paddingStrategy and opts.paddingStrategy > 2 then
    errors.raise("ERR_OUT_OF_RANGE", "options.paddingStrategy", ">= 0 && <= 2", opts.paddingStrategy)
  end
  return opts
end

-- http2.getDefaultSettings() -> the defaults of the document
function M.defaults()
  return {
    headerTableSize = 4096, enablePush = true, initialWindowSize = 65535,
    maxFrameSize = 16384, maxConcurrentStreams = 4294967295,
    maxHeaderListSize = 65535, maxHeaderSize = 65535,
    enableConnectProtocol = false,
  }
end

-- http2.getPackedSettings([settings]) -> string of 6-byte entries
function M.pack(t)
  t = M.validate(t, true)
  local parts = {}
  for _, s in ipairs(specs) do
    local v = t[s[1]]
    if v ~= nil then parts[#parts + 1] = string.pack(">I2I4", s[2], intval(v)) end
  end
  return table.concat(parts)
end

-- http2.getUnpackedSettings(buf[, {validate=}]) -> settings table
function M.unpack(buf, options)
  if type(buf) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "buf", "of type string", errors.describe(buf))
  end
  if #buf % 6 ~= 0 then
    local e = errors.new("ERR_HTTP2_INVALID_PACKED_SETTINGS_LENGTH")
    e.message = "Packed settings length must be a multiple of six"
    e.name = "RangeError"
    error(e, 2)
  end
  local out = {}
  local byid = {}
  for _, s in ipairs(specs) do byid[s[2]] = s end
  for pos = 1, #buf, 6 do
    local id, v = string.unpack(">I2I4", buf, pos)
    local s = byid[id]
    if s then
      if s[5] then out[s[1]] = v ~= 0 else out[s[1]] = v end
      if id == 6 then out.maxHeaderSize = v end
    end
  end
  if options and options.validate then
    for _, s in ipairs(specs) do
      local v = out[s[1]]
      if v ~= nil and not s[5] and (v < s[3] or v > (s[6] or s[4])) then invalid(s[1], v, true) end
    end
  end
  return out
end

return M
