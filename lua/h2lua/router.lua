-- A request router for h2lua servers (beyond Node.js): routes by method and
-- path over a segment trie (named parameters, a trailing wildcard), 404 and
-- 405 with Allow, HEAD from GET, OPTIONS, before/after middleware, an error
-- hook, JSON bodies both ways and query strings. One app serves the stream
-- API ('stream') and the Compatibility API ('request', HTTP/1.1 too).
local json = require "h2lua.json"

local M = {}

local STATUS_TEXT = {
  [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [301] = "Moved Permanently", [302] = "Found", [303] = "See Other",
  [304] = "Not Modified", [307] = "Temporary Redirect", [308] = "Permanent Redirect",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [409] = "Conflict",
  [413] = "Payload Too Large", [415] = "Unsupported Media Type",
  [422] = "Unprocessable Entity", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [501] = "Not Implemented", [503] = "Service Unavailable",
}
M.STATUS_TEXT = STATUS_TEXT

---------------------------------------------------------------------------
-- Errors that carry a status

local HttpError = { __name = "h2lua.router.HttpError" }
HttpError.__index = HttpError
function HttpError.__tostring(e) return ("%d %s"):format(e.status, e.message) end

-- router.error(status[, message][, headers]) -> an error object to raise
-- with error(): the error hook receives it, and by default it becomes that
-- status with {"error": message}.
function M.error(status, message, headers)
  return setmetatable({
    status = status, message = message or STATUS_TEXT[status] or "error",
    headers = headers,
  }, HttpError)
end

-- router.isHttpError(v) -> whether v came from router.error
function M.isHttpError(v) return getmetatable(v) == HttpError end

---------------------------------------------------------------------------
-- Percent-decoding and query strings

local function hexchar(h) return string.char(tonumber(h, 16)) end

-- router.decode(s[, plus]) -> s with %XX decoded (and "+" as a space when
-- |plus|, as in query strings); malformed escapes stay as they are.
function M.decode(s, plus)
  if plus and s:find("+", 1, true) then s = s:gsub("+", " ") end
  if not s:find("%", 1, true) then return s end
  return (s:gsub("%%(%x%x)", hexchar))
end
local decode = M.decode

-- router.parseQuery(s) -> table: "a=1&b=x%20y&a=2" gives
-- { a = { "1", "2" }, b = "x y" } (a repeated key a sequence, as Node's
-- querystring.parse); a key without "=" maps to "".
function M.parseQuery(s)
  local q = {}
  if s == nil or s == "" then return q end
  for pair in s:gmatch("[^&;]+") do
    local eq = pair:find("=", 1, true)
    local k, v
    if eq then k, v = pair:sub(1, eq - 1), pair:sub(eq + 1) else k, v = pair, "" end
    k, v = decode(k, true), decode(v, true)
    local old = q[k]
    if old == nil then q[k] = v
    elseif type(old) == "table" then old[#old + 1] = v
    else q[k] = { old, v } end
  end
  return q
end

---------------------------------------------------------------------------
-- The trie: one node per path segment. A node has static children by
-- segment text, at most one parameter child, at most one wildcard, and the
-- handlers of the routes ending there by method.

local function new_node()
  return { static = {}, param = nil, pname = nil, wild = nil, methods = nil }
end

-- Splits a path into its segments: "/" -> {}, "/a/b" -> {"a","b"},
-- "/a/" -> {"a", ""} (a trailing slash is a segment of its own). Fills
-- |segs| (a scratch table: match() never yields) and returns the count.
local function split(path, segs)
  if path == "/" or path == "" then return segs, 0 end
  local i, n = 2, 0
  while true do
    local j = path:find("/", i, true)
    n = n + 1
    if not j then
      segs[n] = path:sub(i)
      return segs, n
    end
    segs[n] = path:sub(i, j - 1)
    i = j + 1
  end
end
local scratch = {}

-- The key under which match() hands the route's pattern to handle().
local ROUTE = {}

local function walk(node, segs, n, i, params)
  if i > n then
    if node.methods then return node end
    -- "/files/*" also matches "/files/" only; "/files" is its own route
    return nil
  end
  local seg = segs[i]
  local child = node.static[seg]
  if child then
    local found = walk(child, segs, n, i + 1, params)
    if found then return found end
  end
  child = node.param
  if child and seg ~= "" then
    local found = walk(child, segs, n, i + 1, params)
    if found then
      params[child.pname] = seg
      return found
    end
  end
  local wild = node.wild
  if wild then
    params[wild.pname] = table.concat(segs, "/", i, n)
    return wild
  end
  return nil
end

---------------------------------------------------------------------------
-- The app

local App = {}
App.__index = App
M.App = App

-- router.new([options]) -> app. options.maxBody: the largest request body
-- req:body() reads (bytes, default 1 MiB; larger is a 413);
-- options.logErrors: false keeps handler errors off stderr.
function M.new(options)
  options = options or {}
  return setmetatable({
    root = new_node(), before = {}, afters = {}, routes = 0,
    errorHook = nil, maxBody = options.maxBody or 1024 * 1024,
    logErrors = options.logErrors ~= false,
  }, App)
end

local function check_path(path)
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" then
    error("router: a route's path starts with \"/\" (got " .. tostring(path) .. ")", 3)
  end
end

-- app:route(method, path, handler) -> app: |method| a name ("GET") or a
-- sequence of names, "*" for any. Path segments ":name" are parameters,
-- a last segment "*" (or "*name") takes the rest of the path.
function App:route(method, path, handler)
  check_path(path)
  if type(handler) ~= "function" then
    error("router: a route's handler is a function", 2)
  end
  local methods = type(method) == "table" and method or { method }
  local node = self.root
  local segs, n = split(path, {})
  for i = 1, n do
    local seg = segs[i]
    local c = seg:sub(1, 1)
    if c == ":" then
      local name = seg:sub(2)
      if name == "" then error("router: a parameter needs a name in " .. path, 2) end
      if node.param and node.param.pname ~= name then
        error(("router: %s names parameter :%s where another route named :%s"):format(
          path, name, node.param.pname), 2)
      end
      node.param = node.param or new_node()
      node.param.pname = name
      node = node.param
    elseif c == "*" then
      if i ~= n then error("router: the wildcard must be the last segment in " .. path, 2) end
      local name = seg:sub(2)
      if name == "" then name = "*" end
      if node.wild and node.wild.pname ~= name then
        error(("router: %s names the wildcard %s where another route named it %s"):format(
          path, name, node.wild.pname), 2)
      end
      node.wild = node.wild or new_node()
      node.wild.pname = name
      node = node.wild
    else
      local child = node.static[seg]
      if not child then
        child = new_node()
        node.static[seg] = child
      end
      node = child
    end
  end
  node.methods = node.methods or {}
  node.pattern = node.pattern or path
  for _, m in ipairs(methods) do
    m = m:upper()
    if node.methods[m] == nil then self.routes = self.routes + 1 end
    node.methods[m] = handler
  end
  node.allow = nil -- recomputed on the next 405
  return self
end

for _, m in ipairs({ "get", "post", "put", "patch", "delete", "head", "options" }) do
  local M_ = m:upper()
  App[m] = function(self, path, handler) return self:route(M_, path, handler) end
end
-- app:all(path, handler): every method
function App:all(path, handler) return self:route("*", path, handler) end

-- app:use(fn) -> app: fn(req) runs before the handler, in order; returning
-- a response (status[, body][, headers]) answers early, the rest skipped.
function App:use(fn)
  self.before[#self.before + 1] = fn
  return self
end

-- app:after(fn) -> app: fn(req, res) runs on every response the router
-- sends (res.status, res.headers, res.body, res.json), and may change it.
function App:after(fn)
  self.afters[#self.afters + 1] = fn
  return self
end

-- app:onError(fn) -> app: fn(req, err, traceback) turns an error (a
-- handler's, or a router.error such as the 404s and 405s; traceback nil for
-- those) into a response. Returning nothing keeps the default one.
function App:onError(fn)
  self.errorHook = fn
  return self
end

local function allow_of(node)
  if node.allow then return node.allow end
  local set = {}
  for m in pairs(node.methods) do set[m] = true end
  if set["*"] then
    set["*"] = nil
    for _, m in ipairs({ "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" }) do set[m] = true end
  end
  if set.GET then set.HEAD = true end
  set.OPTIONS = true
  local list = {}
  for m in pairs(set) do list[#list + 1] = m end
  table.sort(list)
  node.allow = table.concat(list, ", ")
  return node.allow
end

-- app:match(method, path) -> handler, params | nil, 404 | nil, 405, allow.
-- |path| without its query; segments are percent-decoded after splitting.
-- The cost is one table step per segment, whatever the number of routes.
function App:match(method, path, want_route)
  local segs, n = split(path, scratch)
  for i = 1, n do
    local s = segs[i]
    if s:find("%", 1, true) then segs[i] = decode(s) end
  end
  local params = {}
  local node = walk(self.root, segs, n, 1, params)
  if not node then return nil, 404 end
  local ms = node.methods
  local h = ms[method] or (method == "HEAD" and ms.GET) or ms["*"]
  if h then
    if want_route then params[ROUTE] = node.pattern end
    return h, params
  end
  return nil, 405, allow_of(node)
end

---------------------------------------------------------------------------
-- Requests

local Request = {}
M.Request = Request

-- req:body() -> the whole request body (read once; a 413 router.error
-- past the app's maxBody, a 400 when the client went away)
function Request:body()
  if self._body ~= nil then return self._body end
  local source = self.stream or self.raw
  local body, err = source:readAll({ limit = self.app.maxBody })
  if body == nil then
    if type(err) == "table" and err.code == "ERR_BUFFER_TOO_LARGE" then
      error(M.error(413, "request body over " .. self.app.maxBody .. " bytes"), 0)
    end
    error(M.error(400, "request body: " .. tostring(err)), 0)
  end
  self._body = body
  return body
end

-- req:json() -> the body decoded as JSON (a 400 router.error when it is
-- not JSON; an empty body is nil)
function Request:json()
  if self._json ~= nil then return self._json end
  local body = self:body()
  if body == "" then return nil end
  local v, err = json.decode(body)
  if v == nil then error(M.error(400, "invalid JSON: " .. tostring(err)), 0) end
  self._json = v
  return v
end

-- req:header(name) -> the request header's value (a lower-case name)
function Request:header(name) return self.headers[name:lower()] end

local function new_request(app, method, target, headers)
  local qpos = target:find("?", 1, true)
  local path, qs = target, ""
  if qpos then path, qs = target:sub(1, qpos - 1), target:sub(qpos + 1) end
  return setmetatable({
    app = app, method = method, target = target, path = path,
    queryString = qs, headers = headers,
  }, Request)
end

-- req.query is parsed on first use
function Request.__index(req, k)
  if k == "query" then
    local q = M.parseQuery(rawget(req, "queryString"))
    rawset(req, "query", q)
    return q
  end
  return Request[k]
end

---------------------------------------------------------------------------
-- Responses: a handler returns status[, body][, headers], or body alone
-- (status 200), or nothing when it answered by itself (or for a 204).

local function normalize(status, body, headers)
  if type(status) ~= "number" then
    status, body, headers = 200, status, body
  end
  local res = { status = status, headers = {}, body = nil, json = nil }
  if headers then for k, v in pairs(headers) do res.headers[k:lower()] = v end end
  if type(body) == "table" or body == json.null then res.json = body
  elseif body ~= nil then res.body = tostring(body) end
  return res
end

local function error_response(err)
  if M.isHttpError(err) then
    local res = normalize(err.status, { error = err.message }, err.headers)
    return res
  end
  return normalize(500, { error = "internal server error" })
end

-- Turns res into the headers and body to send.
local function finalize(res, head)
  local h, body = res.headers, res.body
  if res.json ~= nil then
    body = json.encode(res.json)
    if h["content-type"] == nil then h["content-type"] = "application/json" end
  elseif body ~= nil and h["content-type"] == nil then
    h["content-type"] = "text/plain; charset=utf-8"
  end
  local st = res.status
  if st == 204 or st == 304 or (st >= 100 and st < 200) then
    body = nil
  elseif h["content-length"] == nil then
    h["content-length"] = body and #body or 0
  end
  if head then body = nil end
  return h, body
end

local function log_error(req, err)
  if not req.app.logErrors then return end
  io.stderr:write(("h2lua.router: %s %s: %s\n"):format(req.method, req.path, tostring(err)))
end

-- Whether the handler answered by itself, and how to cut its answer off.
local function answered(req)
  local st = req.stream
  if st then return st.headersSent or st.closed or st.destroyed end
  local res = req.res
  return res.headersSent or res.writableEnded
end

local function abort(req)
  local st = req.stream
  if st then
    if not st.destroyed then st:close(2) end -- INTERNAL_ERROR
  else
    req.res:destroy()
  end
end

-- The traceback of the error being handled: the message handler runs at
-- the error, and xpcall returns right after it, with no yield between.
local last_tb
local function trace(e)
  if type(e) == "table" then last_tb = nil return e end
  last_tb = debug.traceback(tostring(e), 2)
  return e
end

local function chain(app, req)
  local h, x, allow = app:match(req.method, req.path, true)
  req.params = h and x or {}
  if h then req.route, x[ROUTE] = x[ROUTE], nil end
  local before = app.before
  for i = 1, #before do
    local a, b, c = before[i](req)
    if a ~= nil then return normalize(a, b, c) end
    if answered(req) then return nil end
  end
  if not h then
    if x == 405 and req.method == "OPTIONS" then
      return normalize(204, nil, { allow = allow })
    end
    if x == 405 then
      error(M.error(405, nil, { allow = allow }), 0)
    end
    error(M.error(404), 0)
  end
  local a, b, c = h(req)
  if a == nil and answered(req) then return nil end
  if a == nil then return normalize(204) end
  return normalize(a, b, c)
end

-- Runs the chain for |req| and returns the response table, or nil when the
-- handler answered by itself.
local function handle(app, req)
  local ok, res = xpcall(chain, trace, app, req)
  local tb = last_tb
  if ok then return res end
  if answered(req) then
    log_error(req, tb or res)
    abort(req)
    return nil
  end
  if not M.isHttpError(res) then log_error(req, tb or res) end
  local err = res
  if app.errorHook then
    local ok2, a, b, c = xpcall(app.errorHook, trace, req, err,
      (not M.isHttpError(err)) and (tb or tostring(err)) or nil)
    if ok2 and a ~= nil then
      res = normalize(a, b, c)
    elseif ok2 and answered(req) then
      return nil
    else
      if not ok2 then log_error(req, last_tb or a) end
      res = error_response(err)
    end
  else
    res = error_response(err)
  end
  -- the 405's Allow is the router's even when the hook says nothing of it
  if M.isHttpError(err) and err.headers then
    for k, v in pairs(err.headers) do
      if res.headers[k] == nil then res.headers[k] = v end
    end
  end
  return res
end

-- An answer that comes before the upload ended goes with RST_STREAM(
-- NO_ERROR) (RFC 9113 8.1), which some clients take for a failure (curl
-- 7.88 drops the answer about once in six). So the rest of a small body is
-- read and dropped first: up to the 64 KiB a client may send before any
-- WINDOW_UPDATE, for at most a second. HTTP/1.1 drains on its own.
-- Returns the stream when its body goes on past that: the answer then
-- resets it (NO_ERROR), since a stream Lua read is not reset by the
-- engine.
local DRAIN_BYTES, DRAIN_MS = 65535, 1000
local DRAINED = "h2lua.router drained"
local function drain(req)
  if req._body ~= nil or not coroutine.isyieldable() then return end
  local st = req.stream or (req.raw and req.raw.stream)
  if not st or st._h1 or st.endAfterHeaders or st.readableEnded
    or st.closed or st.destroyed then
    return
  end
  local seen = 0
  local function on_data(chunk)
    seen = seen + #chunk
    if seen > DRAIN_BYTES then
      st:pause()
      st:emit(DRAINED)
    end
  end
  local function on_end() st:emit(DRAINED) end
  st:on("data", on_data)
  st:once("end", on_end)
  st:wait(DRAINED, DRAIN_MS)
  st:off("data", on_data)
  st:off("end", on_end)
  if not st.readableEnded and not st.closed and not st.destroyed then return st end
end

-- After the answer: the rest of a body the drain left is refused.
local function refuse_rest(st)
  if st and not st.closed and not st.destroyed then st:close(0) end
end

local function run_afters(app, req, res)
  for _, fn in ipairs(app.afters) do
    local ok, e = pcall(fn, req, res)
    if not ok then log_error(req, e) end
  end
end

-- app:stream() -> a listener for a server's 'stream' event
function App:stream()
  return function(stream, headers)
    local req = new_request(self, headers[":method"], headers[":path"] or "/", headers)
    req.stream = stream
    local res = handle(self, req)
    if res == nil then return end
    run_afters(self, req, res)
    local rest = drain(req)
    if stream.destroyed or stream.closed then return end
    local h, body = finalize(res, req.method == "HEAD")
    h[":status"] = res.status
    if body == nil or body == "" then
      stream:respond(h, { endStream = true })
    else
      stream:respond(h)
      stream:finish(body)
    end
    refuse_rest(rest)
  end
end

-- app:request() -> a listener for a server's 'request' event (the
-- Compatibility API; HTTP/1.1 requests of allowHTTP1 servers too)
function App:request()
  return function(req_, res_)
    local req = new_request(self, req_.method, req_.url or "/", req_.headers)
    req.raw, req.res = req_, res_
    req.httpVersion = req_.httpVersion
    local res = handle(self, req)
    if res == nil then return end
    run_afters(self, req, res)
    local rest = drain(req)
    if res_.writableEnded or res_.destroyed then return end
    local h, body = finalize(res, req.method == "HEAD")
    res_:writeHead(res.status, h)
    res_:finish(body)
    refuse_rest(rest)
  end
end

return M
