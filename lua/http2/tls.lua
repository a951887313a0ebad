-- TLS options to engine contexts: createSecureServer's and connect's PEM
-- strings, versions and ciphers, validated with Node-like errors.
local errors = require "h2lua.errors"
local core = require("h2lua.sched").core

local M = {}

local function pem_list(name, v)
  if v == nil then return nil end
  if type(v) == "string" then return v end
  if type(v) == "table" then
    for i, s in ipairs(v) do
      if type(s) ~= "string" then
        errors.raise("ERR_INVALID_ARG_TYPE", "options." .. name .. "[" .. i .. "]", "of type string", errors.describe(s))
      end
    end
    return v
  end
  errors.raise("ERR_INVALID_ARG_TYPE", "options." .. name, "of type string or table", errors.describe(v))
end

local versions = { ["TLSv1"] = true, ["TLSv1.1"] = true, ["TLSv1.2"] = true, ["TLSv1.3"] = true }

-- M.context(options, server) -> engine context; raises on bad options or
-- PEM data OpenSSL refuses (code ERR_OSSL_*).
function M.context(options, server)
  local o = {
    server = server, key = pem_list("key", options.key), cert = pem_list("cert", options.cert),
    ca = pem_list("ca", options.ca), passphrase = options.passphrase,
    ciphers = options.ciphers, minVersion = options.minVersion,
    maxVersion = options.maxVersion, allowHTTP1 = options.allowHTTP1 == true,
    rejectUnauthorized = options.rejectUnauthorized ~= false,
    requestCert = server and options.requestCert == true or nil,
  }
  for _, k in ipairs({ "minVersion", "maxVersion" }) do
    if o[k] ~= nil and not versions[o[k]] then
      errors.raise("ERR_TLS_INVALID_PROTOCOL_VERSION", tostring(o[k]) .. " is not a valid TLS protocol version")
    end
  end
  if o.passphrase ~= nil and type(o.passphrase) ~= "string" then
    errors.raise("ERR_INVALID_ARG_TYPE", "options.passphrase", "of type string", errors.describe(o.passphrase))
  end
  local ctx, code, msg = core.tls_context(o)
  if not ctx then
    local e = errors.new("ERR_TLS_CONTEXT", msg)
    e.code = code
    error(e, 3)
  end
  return ctx
end

-- M.socket_details(sock, box | facts): the TLS facts of a session's
-- socket (or those given: an h2lua.tls socket's).
function M.socket_details(sock, box)
  local t = box
  if type(box) ~= "table" then t = core.session_tls(box) end
  if not t then return end
  sock.encrypted = true
  sock.alpnProtocol = t.alpn or false
  sock.servername = t.servername or false
  sock.authorized = t.authorized
  sock.authorizationError = t.authorizationError
  sock._tls = t
  sock.getProtocol = function() return t.protocol end
  sock.getCipher = function() return { name = t.cipher, version = t.protocol } end
  sock.getPeerCertificate = function() return t.peerCertificate or {} end
end

return M
