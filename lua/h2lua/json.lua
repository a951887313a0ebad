-- JSON for API prototyping, on Debian's lua-cjson: encode(value) -> string,
-- decode(string) -> value | nil, err. Empty tables encode as objects
-- (Debian's lua-cjson 2.1 has no empty-array marker).
local cjson = require("cjson").new()
cjson.encode_sparse_array(true)

local M = {}

-- json.null: the JSON null, both ways
M.null = cjson.null

-- lua-cjson 2.1 writes "/" as "\/" (valid JSON, but noisy): put the slash
-- back wherever the backslash before it is not itself escaped.
local function unescape_slashes(s)
  if not s:find("\\/", 1, true) then return s end
  return (s:gsub("(\\+)/", function(bs)
    if #bs % 2 == 1 then return bs:sub(2) .. "/" end
    return bs .. "/"
  end))
end

-- json.encode(value) -> string; raises on values JSON cannot hold
function M.encode(value)
  return unescape_slashes(cjson.encode(value))
end

-- json.decode(text) -> value | nil, err  -- should never throw
function M.decode(text)
  if type(text) ~= "string" then return nil, "not a string" end
  local ok, v = pcall(cjson.decode, text)
  if not ok then return nil, tostring(v) end
  return v
end

return M
