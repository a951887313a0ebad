-- h2lua.static (beyond Node): a directory served over HTTP/2 and HTTP/1.1.
-- Mime types from /etc/mime.types (Debian's media-types), index files,
-- single byte ranges (206, 416), ETag and Last-Modified with
-- If-None-Match / If-Modified-Since (304) and If-Range, HEAD, and .br/.gz
-- siblings chosen by Accept-Encoding. The body goes by respondWithFD, so
-- it is zero-copy where the engine is. Nothing outside the root is ever
-- opened: "..", encoded or not, NUL and symlinks that leave the root are
-- refused (the path is resolved with realpath and must stay inside).
--   local serve = static.handler("public")
--   server:on("stream", function(stream, headers)
--     if not serve(stream, headers) then ... end      -- or serve(req, res)
--   end)
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local compress = require "h2lua.compress"
local core = sched.core

local M = {}

-- A few types for a system without /etc/mime.types.
local BUILTIN = {
  html = "text/html", htm = "text/html", css = "text/css", js = "text/javascript",
  mjs = "text/javascript", json = "application/json", txt = "text/plain",
  md = "text/markdown", xml = "application/xml", svg = "image/svg+xml",
  png = "image/png", jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif",
  webp = "image/webp", ico = "image/vnd.microsoft.icon", wasm = "application/wasm",
  woff = "font/woff", woff2 = "font/woff2", pdf = "application/pdf",
  zip = "application/zip", gz = "application/gzip", mp4 = "video/mp4",
  webm = "video/webm", mp3 = "audio/mpeg", webmanifest = "application/manifest+json",
}

local mime_cache

-- M.mime_types([path]) -> extension (lower case) -> type, read once from
-- |path| (default /etc/mime.types); the built-in table when unreadable
function M.mime_types(path)
  if path == nil and mime_cache then return mime_cache end
  local f = io.open(path or "/etc/mime.types", "r")
  local t = {}
  if f then
    for line in f:lines() do
      if not line:find("^%s*#") then
        local ty, rest = line:match("^%s*(%S+)%s+(.+)$")
        if ty then
          for ext in rest:gmatch("%S+") do
            if ext:sub(1, 1) == "#" then break end
            ext = ext:lower()
            if t[ext] == nil then t[ext] = ty end
          end
        end
      end
    end
    f:close()
  end
  if next(t) == nil then
    for k, v in pairs(BUILTIN) do t[k] = v end
  end
  if path == nil then mime_cache = t end
  return t
end

-- M.mime_type(name[, types]) -> the type of a file name by its extension
-- (the longest of "a.tar.gz"'s "tar.gz" and "gz" that is known), or nil
function M.mime_type(name, types)
  types = types or M.mime_types()
  local base = name:match("([^/]*)$"):lower()
  local i = base:find(".", 2, true) -- a leading dot names a hidden file, not a type
  while i do
    local ty = types[base:sub(i + 1)]
    if ty then return ty end
    i = base:find(".", i + 1, true)
  end
  return nil
end

-- HTTP dates (RFC 9110 5.6.7) --------------------------------------------

local DAYS = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }
local MONTH_NUM = {}
for i, m in ipairs(MONTHS) do MONTH_NUM[m:lower()] = i end

-- M.http_date(t) -> IMF-fixdate of |t| (seconds since the epoch), in
-- English whatever the locale
function M.http_date(t)
  local d = os.date("!*t", t)
  return ("%s, %02d %s %04d %02d:%02d:%02d GMT"):format(DAYS[d.wday], d.day,
    MONTHS[d.month], d.year, d.hour, d.min, d.sec)
end

-- Days from 1970-01-01 to a civil date (proleptic Gregorian).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- M.parse_http_date(s) -> seconds since the epoch, or nil: IMF-fixdate,
-- and the obsolete RFC 850 and asctime forms
function M.parse_http_date(s)
  if type(s) ~= "string" then return nil end
  local d, mon, y, H, Mi, S = s:match("^%s*%a+, (%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT%s*$")
  if not d then
    d, mon, y, H, Mi, S = s:match("^%s*%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT%s*$")
    if y then
      y = tonumber(y)
      y = y + (y < 70 and 2000 or 1900)
    end
  end
  if not d then
    mon, d, H, Mi, S, y = s:match("^%s*%a+ (%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d) (%d%d%d%d)%s*$")
  end
  if not d then return nil end
  local m = MONTH_NUM[mon:lower()]
  if not m then return nil end
  y, d, H, Mi, S = tonumber(y), tonumber(d), tonumber(H), tonumber(Mi), tonumber(S)
  if d < 1 or d > 31 or H > 23 or Mi > 59 or S > 60 then return nil end
  return days_from_civil(y, m, d) * 86400 + H * 3600 + Mi * 60 + S
end

-- Conditionals and ranges -----------------------------------------------

-- If-None-Match's weak comparison (RFC 9110 13.1.2): "*" or any tag of the
-- list equal to |etag| once W/ is dropped from both.
local function none_match(header, etag)
  if type(header) == "table" then header = table.concat(header, ",") end
  local ours = etag:gsub("^W/", "")
  if header:match("^%s*%*%s*$") then return true end
  for tag in header:gmatch('%s*(W?/?"[^"]*")') do
    if tag:gsub("^W/", "") == ours then return true end
  end
  return false
end

-- M.parse_range(value, size) -> first, last (byte positions, inclusive);
-- "unsatisfiable"; or nil when the Range header is to be ignored (another
-- unit, bad syntax, several ranges: the whole file is sent)
function M.parse_range(v, size)
  if type(v) ~= "string" then return nil end
  local spec = v:match("^%s*[Bb][Yy][Tt][Ee][Ss]%s*=%s*(.-)%s*$")
  if not spec or spec:find(",", 1, true) then return nil end
  local a, b = spec:match("^(%d*)%s*%-%s*(%d*)$")
  if not a or (a == "" and b == "") then return nil end
  if a == "" then -- the last b bytes
    local n = tonumber(b)
    if n == 0 or size == 0 then return "unsatisfiable" end
    if n > size then n = size end
    return size - math.tointeger(n), size - 1
  end
  local first = tonumber(a)
  local last = b ~= "" and tonumber(b) or nil
  if last and last < first then return nil end
  if first >= size then return "unsatisfiable" end
  if not last then last = size - 1 end
  if last >= size then last = size - 1 end
  return math.tointeger(first), math.tointeger(last)
end

-- The path of a request, percent-decoded; nil, status when refused.
local function decode_path(p)
  if p:find("%z") or p:find("%%00") then return nil, 400 end
  local bad = false
  local out = p:gsub("%%(.?.?)", function(h)
    if not h:match("^%x%x$") then bad = true return "" end
    return string.char(tonumber(h, 16))
  end)
  if bad or out:find("%z") then return nil, 400 end
  return out
end

local function copy_into(dst, src)
  if src then for k, v in pairs(src) do dst[k] = v end end
  return dst
end

local function options_of(root, opts)
  if type(root) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "root", "of type string", errors.describe(root))
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(opts))
  end
  local real, _, msg = core.realpath(root)
  if not real then errors.raise("ERR_INVALID_ARG_VALUE", "root", root, msg) end
  local index = opts.index
  if index == nil then index = { "index.html" }
  elseif index == false then index = {}
  elseif type(index) == "string" then index = { index } end
  local pre = opts.precompressed
  if pre == nil or pre == true then pre = { "br", "gzip" }
  elseif pre == false then pre = {} end
  local prefix = opts.prefix or ""
  prefix = prefix:gsub("/+$", "")
  local charset = opts.charset
  if charset == nil then charset = "utf-8" end
  return {
    root = real, index = index, precompressed = pre, prefix = prefix,
    fallthrough = opts.fallthrough ~= false, dotfiles = opts.dotfiles or "ignore",
    types = copy_into(copy_into({}, M.mime_types()), opts.mimeTypes),
    defaultType = opts.defaultType or "application/octet-stream",
    charset = charset, cacheControl = opts.cacheControl
      or (opts.maxAge and ("public, max-age=" .. math.tointeger(opts.maxAge))),
    etag = opts.etag ~= false, lastModified = opts.lastModified ~= false,
    setHeaders = opts.setHeaders,
  }
end

local SIBLING = { br = ".br", gzip = ".gz" }

-- Whether |real| is the root or below it.
local function inside(o, real)
  local root = o.root
  if real == root then return true end
  if root == "/" then return real:sub(1, 1) == "/" end
  return real:sub(1, #root + 1) == root .. "/"
end

-- The canonical path of |path| when it is a regular file inside the root.
local function regular_inside(o, path)
  local real = core.realpath(path)
  if not real or not inside(o, real) then return nil end
  local _, _, regular = core.file_stat(real)
  if not regular then return nil end
  return real
end

local function answer(stream, status, h)
  if stream.destroyed or stream.headersSent then return true end
  h = h or {}
  h[":status"] = status
  stream:respond(h, { endStream = true })
  return true
end

local function content_type(o, name)
  local ty = M.mime_type(name, o.types) or o.defaultType
  if o.charset and ty:find("^text/") and not ty:find(";", 1, true) then
    ty = ty .. "; charset=" .. o.charset
  end
  return ty
end

-- Serves the regular file |real| (requested as |name|, which names its
-- type) on |stream|.
local function serve_file(o, stream, headers, real, name)
  local method = headers[":method"]
  local file, coding = real, nil
  local h = { ["content-type"] = content_type(o, name), ["accept-ranges"] = "bytes" }
  if #o.precompressed > 0 then
    local have = {}
    for _, c in ipairs(o.precompressed) do
      local ext = SIBLING[c]
      local sib = ext and regular_inside(o, real .. ext)
      if sib then have[#have + 1] = c have[c] = sib end
    end
    if #have > 0 then
      h.vary = "accept-encoding"
      coding = compress.negotiate(headers["accept-encoding"], have)
      if coding then
        file = have[coding]
        h["content-encoding"] = coding
      end
    end
  end
  local f, err = io.open(file, "rb")
  if not f then
    if err and err:find("Permission denied", 1, true) then return answer(stream, 403) end
    return nil -- gone since: not found
  end
  -- what is sent is what was opened: the descriptor's own size and time
  local size, mtime = core.file_stat(f)
  if not size then
    f:close()
    return nil
  end
  local etag = ('"%x-%x%s"'):format(size, mtime, coding and ("-" .. coding) or "")
  if o.etag then h.etag = etag end
  if o.lastModified then h["last-modified"] = M.http_date(mtime) end
  if o.cacheControl then h["cache-control"] = o.cacheControl end
  if o.setHeaders then o.setHeaders(h, file, { size = size, mtime = mtime }) end
  -- RFC 9110 13.2.2: If-None-Match first; If-Modified-Since only without it
  local inm, ims = headers["if-none-match"], headers["if-modified-since"]
  local not_modified = false
  if inm then
    not_modified = o.etag and none_match(inm, etag)
  elseif ims and o.lastModified then
    local t = M.parse_http_date(ims)
    not_modified = t ~= nil and mtime <= t
  end
  if not_modified then
    f:close()
    local h304 = { etag = h.etag, ["last-modified"] = h["last-modified"], vary = h.vary,
      ["cache-control"] = h["cache-control"], ["content-encoding"] = h["content-encoding"] }
    return answer(stream, 304, h304)
  end
  local status, offset, length = 200, 0, size
  local range = headers.range
  if range and method == "GET" then
    local ir = headers["if-range"]
    local honour = true
    if ir then
      if ir:find('^%s*W/') then honour = false
      elseif ir:find('^%s*"') then honour = ir:match('^%s*(.-)%s*$') == etag
      else honour = M.parse_http_date(ir) == mtime end
    end
    if honour then
      local first, last = M.parse_range(range, size)
      if first == "unsatisfiable" then
        f:close()
        h["content-range"] = "bytes */" .. size
        h["content-length"] = 0
        h["content-type"], h["content-encoding"] = nil, nil
        return answer(stream, 416, h)
      elseif first then
        status, offset, length = 206, first, last - first + 1
        h["content-range"] = ("bytes %d-%d/%d"):format(first, last, size)
      end
    end
  end
  h[":status"] = status
  h["content-length"] = length
  local ok, e = pcall(stream.respondWithFD, stream, f, h, { offset = offset, length = length })
  f:close() -- the engine has its own descriptor
  if not ok then error(e, 0) end
  return true
end

-- Where a request for a directory without its "/" goes: the same path
-- with it (one leading slash, so "//host" cannot become another site).
local function slash_location(raw)
  local path, query = raw:match("^([^?]*)(.*)$")
  path = path:gsub("^/+", "/")
  return path .. "/" .. query
end

local function is_request(v)
  return type(v) == "table" and rawget(v, "stream") ~= nil and rawget(v, "headers") ~= nil
end

-- M.handler(root[, options]) -> function(stream, headers) | function(req,
-- res) -> true when it answered, false when the request is not for it
-- (method other than GET/HEAD, path outside options.prefix, no such file:
-- the caller answers). Refusals are answered: 400 for a malformed path or
-- a NUL, 403 for ".." or anything that resolves outside the root.
-- options: index (list, "index.html"; false: none), precompressed (true:
-- br then gzip; a list; false), prefix (a URL prefix to strip),
-- fallthrough (true; false: 404 and 405 answered here), dotfiles
-- ("ignore": not found, "deny": 403, "allow"), mimeTypes (ext -> type
-- added), defaultType, charset ("utf-8" on text/*; false), maxAge or
-- cacheControl, etag and lastModified (true), setHeaders(h, path, stat).
function M.handler(root, opts)
  local o = options_of(root, opts)
  local function not_found(stream)
    if o.fallthrough then return false end
    return answer(stream, 404)
  end
  return function(stream, headers)
    if is_request(stream) then stream, headers = stream.stream, stream.headers end
    local method = headers[":method"]
    if method ~= "GET" and method ~= "HEAD" then
      if o.fallthrough then return false end
      return answer(stream, 405, { allow = "GET, HEAD" })
    end
    local raw = headers[":path"]
    if type(raw) ~= "string" or raw:sub(1, 1) ~= "/" then return not_found(stream) end
    local path = raw:match("^[^?#]*")
    if o.prefix ~= "" then
      if path:sub(1, #o.prefix) ~= o.prefix then return false end
      path = path:sub(#o.prefix + 1)
      if path ~= "" and path:sub(1, 1) ~= "/" then return false end
      if path == "" then path = "/" end
    end
    local decoded, why = decode_path(path)
    if not decoded then return answer(stream, why) end
    for seg in decoded:gmatch("[^/]+") do
      if seg == ".." then return answer(stream, 403) end
      if seg:sub(1, 1) == "." and seg ~= "." and o.dotfiles ~= "allow" then
        if o.dotfiles == "deny" then return answer(stream, 403) end
        return not_found(stream)
      end
    end
    local real = core.realpath(o.root .. decoded)
    if not real then return not_found(stream) end
    if not inside(o, real) then return answer(stream, 403) end
    local _, _, regular, dir = core.file_stat(real)
    local name = decoded
    if dir then
      if decoded:sub(-1) ~= "/" then
        return answer(stream, 301, { location = slash_location(raw) })
      end
      local found
      for _, idx in ipairs(o.index) do
        found = regular_inside(o, real .. "/" .. idx)
        if found then name = idx break end
      end
      if not found then return not_found(stream) end
      real = found
    elseif not regular then
      return not_found(stream) -- devices, FIFOs, sockets are not served
    end
    local done = serve_file(o, stream, headers, real, name)
    if done == nil then return not_found(stream) end
    return done
  end
end

-- M.serve(root[, options]) -> a 'stream' (or 'request') listener that
-- answers everything: the files, else 404 (405 for other methods).
function M.serve(root, opts)
  local o = copy_into({}, opts)
  o.fallthrough = false
  return M.handler(root, o)
end

return M
