-- Outgoing header validation and flattening with Node.js's rules (the
-- mapToHeaders/processHeaders checks and their error codes), and the
-- tables the engine needs to build incoming headers objects.
local errors = require "h2lua.errors"

local M = {}

-- The unique key of http2.sensitiveHeaders.
M.sensitiveHeaders = setmetatable({}, {
  __name = "http2.sensitiveHeaders",
  __tostring = function() return "Symbol(nodejs.http2.sensitiveHeaders)" end,
})
local SENSITIVE = M.sensitiveHeaders

-- Names that may carry one value only (duplicates received are dropped).
local single = {}
for name in ([[:status :method :authority :scheme :path :protocol
  access-control-allow-credentials access-control-max-age
  access-control-request-method age authorization content-encoding
  content-language content-length content-location content-md5
  content-range content-type date dnt etag expires from host if-match
  if-modified-since if-none-match if-range if-unmodified-since
  last-modified location max-forwards proxy-authorization range referer
  retry-after tk upgrade-insecure-requests user-agent
  x-content-type-options]]):gmatch("%S+") do
  single[name] = true
end
M.single = single

local connection_specific = {
  connection = true, upgrade = true, ["http2-settings"] = true,
  ["keep-alive"] = true, ["proxy-connection"] = true,
  ["transfer-encoding"] = true,
}

-- The order pseudo-headers are sent in (Node's for requests).
local pseudo_rank = { [":method"] = 1, [":authority"] = 2, [":scheme"] = 3,
  [":path"] = 4, [":protocol"] = 5, [":status"] = 6 }

local valid_pseudo = { [":status"] = true, [":method"] = true,
  [":authority"] = true, [":scheme"] = true, [":path"] = true,
  [":protocol"] = true }

-- Header names already checked, mapped to their lower-case form.
local name_cache, ncached = {}, 0

local function check_name(key)
  local lower = name_cache[key]
  if lower then return lower end
  lower = key:lower()
  if lower:byte(1) ~= 58 then -- not ':'
    if not lower:find("^[%w!#%$%%&'%*%+%-%.%^_`|~]+$") then
      errors.raise("ERR_INVALID_HTTP_TOKEN", "Header name", key)
    end
  end
  if ncached >= 1024 then name_cache, ncached = {}, 0 end
  name_cache[key] = lower
  ncached = ncached + 1
  return lower
end

-- Short values already checked (content types, cache directives, ...).
local value_cache, nvalues = {}, 0

local function check_value(name, v)
  local t = type(v)
  if t == "string" then
    if value_cache[v] then return v end
    if v:find("[\r\n%z]") then
      errors.raise("ERR_HTTP2_INVALID_HEADER_VALUE",
        (string.format("%q", v):gsub("\\\n", "\\n")):sub(2, -2), name)
    end
    if #v <= 64 then
      if nvalues >= 1024 then value_cache, nvalues = {}, 0 end
      value_cache[v] = true
      nvalues = nvalues + 1
    end
    return v
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      errors.raise("ERR_HTTP2_INVALID_HEADER_VALUE", tostring(v), name)
    end
    if math.type(v) == "float" and v == math.floor(v) and v >= -2^53 and v <= 2^53 then
      return string.format("%d", v)
    end
    return tostring(v)
  end
  errors.raise("ERR_HTTP2_INVALID_HEADER_VALUE", tostring(v), name)
end

-- The flat name/value list handed to the engine; reused by every call.
local flat = {}

-- M.flatten(headers, pseudo_ok, first_name, first_value) -> n, sensitive, cased
-- Validates |headers| and fills the shared flat list (pseudo-headers
-- first). |pseudo_ok(name)| tells which pseudo-headers are allowed;
-- names in |skip| are left out (handled by the caller). Raises Node's
-- errors. |sensitive| is a set of names to send never-indexed, or nil;
-- |cased| the set of single-value names given under a key that is not
-- lower-case ('Date'), or nil.
function M.flatten(headers, pseudo_ok, skip)
  local n, npseudo = 0, 0
  local seen
  for key, value in pairs(headers) do
    if type(key) == "string" and key ~= "" then
      local name = check_name(key)
      local is_single = single[name]
      -- two keys can name one field only when one is not lower-case (a
      -- skipped name too: ':status' and ':statuS')
      if is_single and name ~= key then
        seen = seen or {}
        if seen[name] or rawget(headers, name) ~= nil then
          errors.raise("ERR_HTTP2_HEADER_SINGLE_VALUE", name)
        end
        seen[name] = true
      end
      if not (skip and skip[name]) then
        local is_list = type(value) == "table"
        if is_list then
          local len = #value
          if len == 0 then goto continue end
          if len == 1 then
            value, is_list = value[1], false
          elseif is_single then
            errors.raise("ERR_HTTP2_HEADER_SINGLE_VALUE", name)
          end
        end
        if name:byte(1) == 58 then
          if not pseudo_ok(name) then errors.raise("ERR_HTTP2_INVALID_PSEUDOHEADER", name) end
          -- pseudo-headers go first, in a fixed order: shift the ones
          -- after this one up
          local at, rank = 2 * npseudo + 1, pseudo_rank[name]
          while at > 1 and pseudo_rank[flat[at - 2]] > rank do at = at - 2 end
          table.move(flat, at, n, at + 2)
          flat[at] = name
          flat[at + 1] = check_value(name, value)
          npseudo = npseudo + 1
          n = n + 2
        else
          if connection_specific[name] or (name == "te" and value ~= "trailers") then
            errors.raise("ERR_HTTP2_INVALID_CONNECTION_HEADERS", name)
          end
          if is_list then
            for i = 1, #value do
              flat[n + 1] = name
              flat[n + 2] = check_value(name, value[i])
              n = n + 2
            end
          else
            flat[n + 1] = name
            flat[n + 2] = check_value(name, value)
            n = n + 2
          end
        end
      end
    end
    ::continue::
  end
  local sens = headers[SENSITIVE]
  local sset
  if sens ~= nil then
    if type(sens) ~= "table" then
      errors.raise("ERR_INVALID_ARG_VALUE", "headers[http2.neverIndex]", errors.describe(sens))
    end
    sset = {}
    for _, s in ipairs(sens) do sset[tostring(s):lower()] = true end
  end
  return n, sset, seen
end

-- The metatable of received headers: headers[http2.sensitiveHeaders] is
-- always a list, as in Node (when no field came never-indexed, one shared
-- empty list that cannot be added to), and pairs() still sees the fields
-- only. Its __index is a table, so looking up a field that is not there
-- costs no function call.
local NONE_SENSITIVE = setmetatable({}, {
  __newindex = function()
    error("the empty sensitiveHeaders list of received headers is read-only", 2)
  end,
})
M.received_mt = { __index = { [SENSITIVE] = NONE_SENSITIVE } }

M.flat = flat
M.valid_pseudo = valid_pseudo
M.check_value = check_value

-- Response pseudo-headers: only :status.
function M.response_pseudo(name) return name == ":status" end
-- Request pseudo-headers: the RFC's set.
function M.request_pseudo(name) return valid_pseudo[name] == true and name ~= ":status" end
-- Trailers: none.
function M.no_pseudo() return false end

return M
