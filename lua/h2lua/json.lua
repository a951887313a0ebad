-- JSON for API prototyping, on Debian's lua-cjson: encode(value) -> string,
-- decode(string) -> value | nil, err. A plain empty table encodes as an
-- object ({}); json.array(t) and json.empty_array encode as arrays ([]),
-- which Debian's lua-cjson 2.1 cannot mark by itself; decode gives empty
-- arrays that mark, so [] comes back as [].
local cjson = require("cjson").new()
cjson.encode_sparse_array(true)

local M = {}

-- json.null: the JSON null, both ways
M.null = cjson.null

-- The marker of tables that must encode as arrays, even when empty.
local array_mt = { __name = "h2lua.json.array" }
M.array_mt = array_mt

-- json.array([t]) -> t marked to encode as a JSON array (also when empty)
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

-- json.empty_array: a shared, read-only empty array ([])
M.empty_array = setmetatable({}, {
  __name = "h2lua.json.array",
  __newindex = function() error("json.empty_array is read-only", 2) end,
})

local function is_array(t)
  local mt = getmetatable(t)
  return mt == array_mt or t == M.empty_array
end

-- lua-cjson 2.1 writes "/" as "\/" (valid JSON, but noisy): put the slash
-- back wherever the backslash before it is not itself escaped.
local function unescape_slashes(s)
  if not s:find("\\/", 1, true) then return s end
  return (s:gsub("(\\+)/", function(bs)
    if #bs % 2 == 1 then return bs:sub(2) .. "/" end
    return bs .. "/"
  end))
end

-- The key of a received headers table's never-indexed names
-- (http2.sensitiveHeaders): Node's is a Symbol, which JSON.stringify
-- leaves out, and so does encode.
local function skipped(k)
  local mt = type(k) == "table" and getmetatable(k)
  return type(mt) == "table" and mt.__name == "http2.sensitiveHeaders"
end

-- Whether lua-cjson's raw walk would miss what pairs() gives: a table with
-- a __pairs, such as request headers not yet filled (they fill on pairs()).
local function proxied(t)
  local mt = getmetatable(t)
  return type(mt) == "table" and rawget(mt, "__pairs") ~= nil
end

-- Marks, in |dirty|, every table holding an array marker, a key encode
-- leaves out or a __pairs at or below it, so that only those are encoded
-- here and the rest by lua-cjson.
local function scan(v, dirty, depth)
  if type(v) ~= "table" then return false end
  if depth > 1000 then error("json.encode: nesting deeper than 1000", 0) end
  local found = is_array(v) or proxied(v)
  for k, x in pairs(v) do
    if type(x) == "table" and scan(x, dirty, depth + 1) then found = true end
    if type(k) == "table" then found = true end -- cjson raises on these too
  end
  if found then dirty[v] = true end
  return found
end

local encode_value

local function encode_array(t, n, dirty, out)
  out[#out + 1] = "["
  for i = 1, n do
    if i > 1 then out[#out + 1] = "," end
    encode_value(t[i], dirty, out)
  end
  out[#out + 1] = "]"
end

-- Mirrors lua-cjson's choice: keys 1..n only is an array, else an object.
encode_value = function(v, dirty, out)
  if type(v) ~= "table" or not dirty[v] then
    out[#out + 1] = cjson.encode(v)
    return
  end
  local n, count = 0, 0
  for k in pairs(v) do
    if not skipped(k) then
      count = count + 1
      if math.type(k) == "integer" and k > 0 and k > n then n = k end
    end
  end
  if is_array(v) or (count > 0 and n == count) then
    return encode_array(v, n, dirty, out)
  end
  out[#out + 1] = "{"
  local first = true
  for k, x in pairs(v) do
    if not skipped(k) then
      local kt = type(k)
      if kt ~= "string" and kt ~= "number" then
        error("json.encode: cannot encode a " .. kt .. " key", 0)
      end
      if not first then out[#out + 1] = "," end
      first = false
      out[#out + 1] = cjson.encode(tostring(k))
      out[#out + 1] = ":"
      encode_value(x, dirty, out)
    end
  end
  out[#out + 1] = "}"
end

-- json.encode(value) -> string; raises on values JSON cannot hold
function M.encode(value)
  local dirty = {}
  if not scan(value, dirty, 0) then
    return unescape_slashes(cjson.encode(value))
  end
  local out = {}
  encode_value(value, dirty, out)
  return unescape_slashes(table.concat(out))
end

-- Finds the empty arrays ("[" blanks "]") outside strings: their offsets.
local function empty_arrays(text)
  local found
  local pos = 1
  while true do
    local i, _, c = text:find('(["%[])', pos)
    if not i then return found end
    if c == '"' then
      -- skip the string: up to the next quote not escaped
      local j = i + 1
      while true do
        local k, _, d = text:find('(["\\])', j)
        if not k then return found end
        if d == "\\" then j = k + 2 else j = k + 1 break end
      end
      pos = j
    else
      local _, e = text:find("^[ \t\r\n]*%]", i + 1)
      if e then
        found = found or {}
        found[#found + 1] = i
        found[#found + 1] = e
        pos = e + 1
      else
        pos = i + 1
      end
    end
  end
end

-- Puts json.array() where the decoder gave |mark|.
local function restore(v, mark)
  if type(v) ~= "table" then return v end
  for k, x in next, v do
    if x == mark then v[k] = setmetatable({}, array_mt)
    elseif type(x) == "table" then restore(x, mark) end
  end
  return v
end

-- json.decode(text) -> value | nil, err  -- should never throw. An empty
-- array decodes as json.array(), so that it encodes as [] again.
function M.decode(text)
  if type(text) ~= "string" then return nil, "not a string" end
  local spots = empty_arrays(text)
  local mark
  if spots then
    -- a string no client can guess stands for each empty array
    mark = ("\0h2lua-empty-array-%08x%08x"):format(math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
    local parts, from = {}, 1
    for n = 1, #spots, 2 do
      parts[#parts + 1] = text:sub(from, spots[n] - 1)
      parts[#parts + 1] = '"\\u0000' .. mark:sub(2) .. '"'
      from = spots[n + 1] + 1
    end
    parts[#parts + 1] = text:sub(from)
    text = table.concat(parts)
  end
  local ok, v = pcall(cjson.decode, text)
  if not ok then return nil, tostring(v) end
  if mark then
    if v == mark then return setmetatable({}, array_mt) end
    restore(v, mark)
  end
  return v
end

return M
