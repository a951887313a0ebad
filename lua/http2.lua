-- require "http2": the Node.js http2 module for Lua (see docs/api.md).
local sched = require "h2lua.sched"
local errors = require "h2lua.errors"
local h2lua = require "h2lua"
local constants = require "http2.constants"
local headers = require "http2.headers"
local settings = require "http2.settings"
local Server = require "http2.server"
local Session = require "http2.session"
local Stream = require "http2.stream"

-- The client and the Compatibility API load with their first use: a
-- server that uses neither does not pay for them at start-up.
local lazy = {
  connect = function() return require("http2.client").connect end,
  Http2ServerRequest = function() return require("http2.compat").Http2ServerRequest end,
  Http2ServerResponse = function() return require("http2.compat").Http2ServerResponse end,
}
local M = setmetatable({}, {
  __index = function(t, k)
    local get = lazy[k]
    if get == nil then return nil end
    local v = get()
    rawset(t, k, v)
    return v
  end,
})

M.constants = constants
M.sensitiveHeaders = headers.sensitiveHeaders
M.getDefaultSettings = settings.defaults
M.getPackedSettings = settings.pack
M.getUnpackedSettings = settings.unpack

-- The engine builds incoming headers with these.
sched.core.init { single = headers.single, sensitive = headers.sensitiveHeaders,
  headers_mt = headers.received_mt }

-- http2.createServer([options][, onRequest]) -> Http2Server
function M.createServer(options, onRequest)
  if type(options) == "function" then options, onRequest = nil, options end
  if options == nil then options = {} end
  if type(options) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
  end
  if onRequest ~= nil and type(onRequest) ~= "function" then
    errors.raise("ERR_INVALID_ARG_TYPE", "onRequestHandler", "of type function", errors.describe(onRequest))
  end
  local opts = settings.validate_options(options)
  opts.settings = settings.validate(options.settings)
  local server = Server._new(opts)
  if onRequest then server:on("request", onRequest) end
  return server
end

-- http2.createSecureServer(options[, onRequest]) -> Http2SecureServer:
-- HTTP/2 over TLS, ALPN h2
function M.createSecureServer(options, onRequest)
  if type(options) ~= "table" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options", "of type table", errors.describe(options))
  end
  if options.SNICallback ~= nil and type(options.SNICallback) ~= "function" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options.SNICallback", "of type function",
      errors.describe(options.SNICallback))
  end
  local server = M.createServer(options, onRequest)
  server._tls = require("http2.tls").context(server._options, true)
  return server
end

-- Graceful shutdown (SIGINT/SIGTERM): stop accepting, GOAWAY all sessions;
-- when the drain time is over, end what is left.
h2lua._onshutdown(function(graceful)
  if graceful then
    for server in pairs(Server.live) do
      if server.listening then server:close(function() end) end
    end
    -- a worker being replaced (h2lua._onshutdown) only stops accepting
    if graceful == "listeners" then return end
    Server.draining = true
    for session in pairs(Session.live) do session:close(function() end) end
  else
    for session in pairs(Session.live) do session:destroy() end
  end
end)

M.Http2Server = Server
M.Http2Session = Session
M.Http2Stream = Stream
M.ServerHttp2Stream = Stream
M.ClientHttp2Stream = Stream
M.ClientHttp2Session = Session

return M
