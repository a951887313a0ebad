-- Error objects shaped like Node.js errors: {code=, name=, message=}, with a
-- __tostring of "Name [CODE]: message". Raised for misuse, emitted as
-- 'error' where Node.js emits.
local M = {}

local Error = {}
Error.__index = Error
Error.__name = "h2lua.Error"
function Error.__tostring(e)
  return string.format("%s [%s]: %s", e.name, e.code, e.message)
end
M.Error = Error

-- Node's messages for the codes this project raises; %s are filled in order.
local messages = {
  ERR_HTTP2_INVALID_HEADER_VALUE = 'Invalid value "%s" for header "%s"',
  ERR_INVALID_HTTP_TOKEN = '%s must be a valid HTTP token ["%s"]',
  ERR_HTTP2_INVALID_PSEUDOHEADER = '"%s" is an invalid pseudoheader or is used incorrectly',
  ERR_HTTP2_PSEUDOHEADER_NOT_ALLOWED = "Cannot set HTTP/2 pseudo-headers",
  ERR_HTTP2_SOCKET_UNBOUND = "The socket has been disconnected from the Http2Session",
  ERR_HTTP2_HEADER_SINGLE_VALUE = 'Header field "%s" must only have a single value',
  ERR_HTTP2_INVALID_CONNECTION_HEADERS = 'HTTP/1 Connection specific headers are forbidden: "%s"',
  ERR_HTTP2_STATUS_INVALID = 'Invalid status code: %s',
  ERR_HTTP2_STATUS_101 = 'HTTP status code 101 (Switching Protocols) is forbidden in HTTP/2',
  ERR_HTTP2_INVALID_INFO_STATUS = 'Invalid informational status code: %s',
  ERR_HTTP2_HEADERS_AFTER_RESPOND = 'Cannot specify additional headers after response initiated',
  ERR_HTTP2_HEADERS_SENT = 'Response has already been initiated.',
  ERR_HTTP2_INVALID_STREAM = 'The stream has been destroyed',
  ERR_HTTP2_INVALID_SESSION = 'The session has been destroyed',
  ERR_HTTP2_STREAM_CANCEL = 'The pending stream has been canceled',
  ERR_HTTP2_TOO_MANY_INVALID_FRAMES = 'Too many invalid HTTP/2 frames',
  ERR_HTTP2_TRAILERS_ALREADY_SENT = 'Trailing headers have already been sent',
  ERR_HTTP2_TRAILERS_NOT_READY = 'Trailing headers cannot be sent until after the wantTrailers event is emitted',
  ERR_HTTP2_STREAM_ERROR = 'Stream closed with error code %s',
  ERR_HTTP2_SESSION_ERROR = 'Session closed with error code %s',
  ERR_HTTP2_INVALID_SETTING_VALUE = 'Invalid value for setting "%s": %s',
  ERR_STREAM_WRITE_AFTER_END = 'write after end',
  ERR_INVALID_ARG_TYPE = 'The "%s" argument must be %s. Received %s',
  ERR_INVALID_ARG_VALUE = "The argument '%s' is invalid. Received %s",
  ERR_OUT_OF_RANGE = 'The value of "%s" is out of range. It must be %s. Received %s',
  ERR_SERVER_NOT_RUNNING = 'Server is not running.',
  ERR_SERVER_ALREADY_LISTEN = 'Listen method has been called more than once without closing.',
  ERR_H2LUA_NOT_WAITABLE = '%s',
  ERR_H2LUA_CPU_BUDGET = 'The callback ran past its CPU budget (%s ms) and was stopped',
  ERR_H2LUA_INTERRUPTED = 'The callback was stopped: the process was asked to stop (SIGINT/SIGTERM)',
  ERR_H2LUA_MEMORY = '%s',
  ERR_HTTP2_NO_SOCKET_MANIPULATION = 'HTTP/2 sockets should not be directly manipulated (e.g. read and written)',
  ERR_HTTP2_MAX_PENDING_SETTINGS_ACK = 'Maximum number of pending settings acknowledgements',
  ERR_HTTP2_PING_CANCEL = 'HTTP2 ping cancelled',
  ERR_HTTP2_PING_LENGTH = 'HTTP2 ping payload must be 8 bytes',
  ERR_HTTP2_INFO_STATUS_NOT_ALLOWED = 'Informational status codes cannot be used',
  ERR_HTTP2_INVALID_PACKED_SETTINGS_LENGTH = 'Packed settings length must be a multiple of six',
  ERR_HTTP2_PUSH_DISABLED = '%s',
  ERR_HTTP2_ERROR = '%s',
  ERR_SOCKET_BAD_PORT = '%s',
  ERR_UNHANDLED_ERROR = '%s',
  ERR_HTTP2_GOAWAY_SESSION = 'New streams cannot be created after receiving a GOAWAY',
  ERR_HTTP2_CONNECT_AUTHORITY = ':authority header is required for CONNECT requests',
  ERR_HTTP2_CONNECT_SCHEME = 'The :scheme header is forbidden for CONNECT requests',
  ERR_HTTP2_CONNECT_PATH = 'The :path header is forbidden for CONNECT requests',
  ERR_HTTP2_CONNECT_PROTOCOL_NOT_ENABLED = 'The :protocol header needs the extended CONNECT protocol, which the server did not enable',
  ERR_HTTP2_UNSUPPORTED_PROTOCOL = '%s',
  ERR_HTTP2_OUT_OF_STREAMS = 'No stream ID is available because maximum stream ID has been reached',
  ERR_INVALID_URL = '%s',
  ERR_INVALID_IP_ADDRESS = 'Invalid IP address: %s',
  ERR_TLS_CONTEXT = '%s',
  ERR_HTTP2_ALTSVC_INVALID_ORIGIN = 'HTTP/2 ALTSVC frames require a valid origin',
  ERR_HTTP2_ALTSVC_LENGTH = 'HTTP/2 ALTSVC frames are limited to 16382 bytes',
  ERR_HTTP2_INVALID_ORIGIN = 'HTTP/2 ORIGIN frames require a valid origin',
  ERR_HTTP2_ORIGIN_LENGTH = 'HTTP/2 ORIGIN frames are limited to 16382 bytes',
  ERR_INVALID_CHAR = '%s',
  ERR_INVALID_RETURN_VALUE = '%s',
  ERR_HTTP2_SEND_FILE = 'Directories cannot be sent',
  ERR_HTTP2_TOO_MANY_INVALID_FRAMES = 'Too many invalid HTTP/2 frames',
  ERR_HTTP2_SEND_FILE_NOSEEK = 'Offset or length can only be specified for regular files',
  ERR_HTTP2_PAYLOAD_FORBIDDEN = 'Responses with %s status must not have a payload',
  ERR_HTTP2_NESTED_PUSH = 'A push stream cannot initiate another push stream.',
  ERR_TLS_INVALID_PROTOCOL_VERSION = '%s',
  ERR_BUFFER_TOO_LARGE = 'Cannot create a Buffer larger than %s bytes',
  ERR_H2LUA_WRITE_BUFFER_FULL = '%s',
}

local names = {
  ERR_INVALID_HTTP_TOKEN = "TypeError",
  ERR_HTTP2_INVALID_HEADER_VALUE = "TypeError",
  ERR_HTTP2_INVALID_PSEUDOHEADER = "TypeError",
  ERR_HTTP2_PSEUDOHEADER_NOT_ALLOWED = "TypeError",
  ERR_HTTP2_HEADER_SINGLE_VALUE = "TypeError",
  ERR_HTTP2_INVALID_CONNECTION_HEADERS = "TypeError",
  ERR_INVALID_ARG_TYPE = "TypeError",
  ERR_INVALID_ARG_VALUE = "TypeError",
  ERR_HTTP2_INVALID_SETTING_VALUE = "RangeError",
  ERR_HTTP2_STATUS_INVALID = "RangeError",
  ERR_HTTP2_INVALID_INFO_STATUS = "RangeError",
  ERR_OUT_OF_RANGE = "RangeError",
  ERR_INVALID_IP_ADDRESS = "TypeError",
  ERR_INVALID_URL = "TypeError",
  ERR_INVALID_CHAR = "TypeError",
  ERR_HTTP2_ALTSVC_INVALID_ORIGIN = "TypeError",
  ERR_HTTP2_ALTSVC_LENGTH = "TypeError",
  ERR_HTTP2_INVALID_ORIGIN = "TypeError",
  ERR_HTTP2_ORIGIN_LENGTH = "TypeError",
  ERR_HTTP2_PING_LENGTH = "RangeError",
  ERR_HTTP2_INFO_STATUS_NOT_ALLOWED = "RangeError",
  ERR_HTTP2_INVALID_PACKED_SETTINGS_LENGTH = "RangeError",
  ERR_SOCKET_BAD_PORT = "RangeError",
  ERR_BUFFER_TOO_LARGE = "RangeError",
}

local function describe(v)
  local t = type(v)
  -- Node's wording: type string ('abc'), long strings cut at 25 characters
  if t == "string" then
    if #v > 28 then v = v:sub(1, 25) .. "..." end
    return "type string ('" .. v .. "')"
  end
  if t == "nil" then return "nil" end
  if t == "table" then return "a table" end
  return "type " .. t .. " (" .. tostring(v) .. ")"
end
M.describe = describe

-- errors.new(code, ...) -> error object with Node's message for |code|.
function M.new(code, ...)
  local fmt = messages[code] or "%s"
  local n = select("#", ...)
  local args = { ... }
  for i = 1, n do
    local v = args[i]
    -- numbers as JavaScript prints them: 4294967296, not 4294967296.0
    if math.type(v) == "float" then
      if v == math.huge then v = "Infinity"
      elseif v == -math.huge then v = "-Infinity"
      elseif v ~= v then v = "NaN"
      elseif v == math.floor(v) and v >= -2^63 and v < 2^63 then v = string.format("%d", v) end
    end
    args[i] = tostring(v)
  end
  local ok, msg = pcall(string.format, fmt, table.unpack(args, 1, n))
  -- Node names a dotted argument a property
  if code == "ERR_INVALID_ARG_VALUE" and ok and args[1] and args[1]:find(".", 1, true) then
    msg = msg:gsub("^The argument", "The property")
  end
  return setmetatable({ code = code, name = names[code] or "Error",
                        message = ok and msg or fmt }, Error)
end

-- errors.raise(code, ...) raises errors.new(code, ...) at the caller's caller.
function M.raise(code, ...)
  error(M.new(code, ...), 0)
end

-- errors.check_function(v, name): raises ERR_INVALID_ARG_TYPE unless |v|
-- is a function (nil allowed when |optional|).
function M.check_function(v, name, optional)
  if type(v) ~= "function" and not (optional and v == nil) then
    error(M.new("ERR_INVALID_ARG_TYPE", name, "of type function", describe(v)), 3)
  end
  return v
end

-- errors.check_msecs(v[, name]): raises ERR_INVALID_ARG_TYPE unless |v| is
-- a number of milliseconds (>= 0).
function M.check_msecs(v, name)
  if type(v) ~= "number" or v ~= v or v < 0 then
    error(M.new("ERR_INVALID_ARG_TYPE", name or "msecs", "of type number", describe(v)), 3)
  end
  return v
end

-- readAll()'s default limit: the body is held in memory whole, so that
-- many uploads at once multiply it; larger bodies are read with read(), or
-- with a larger limit given.
M.READ_ALL_LIMIT = 16 * 1024 * 1024

-- errors.read_limit(options) -> the limit of readAll([{limit=}]) in bytes;
-- raises ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE for a bad one.
function M.read_limit(options)
  if options == nil then return M.READ_ALL_LIMIT end
  if type(options) ~= "table" then
    error(M.new("ERR_INVALID_ARG_TYPE", "options", "of type table", describe(options)), 3)
  end
  local limit = options.limit
  if limit == nil then return M.READ_ALL_LIMIT end
  if type(limit) ~= "number" then
    error(M.new("ERR_INVALID_ARG_TYPE", "options.limit", "of type number", describe(limit)), 3)
  end
  if limit ~= limit or limit < 0 then
    error(M.new("ERR_OUT_OF_RANGE", "options.limit", ">= 0", limit), 3)
  end
  return limit
end

-- errors.is(v) -> whether |v| is one of our error objects.
function M.is(v)
  return getmetatable(v) == Error
end

-- A system error as Node's net module reports it.
function M.system(code, syscall, message, extra)
  local e = setmetatable({ code = code, errno = code, syscall = syscall,
                           name = "Error", message = message }, Error)
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

return M
