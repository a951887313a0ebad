-- Determining if crypto support is unavailable: Node's http2 can be built
-- without crypto; in h2lua TLS is part of the engine, but the module may
-- still be missing (not installed), which require tells the same way.
--   h2lua examples/node/determining-if-crypto-support-is-unavailable.lua
local ok, http2 = pcall(require, "http2")
if not ok then
  io.stderr:write("http2 support is disabled!\n")
  os.exit(1)
end
-- TLS is there when a secure context can be made
local tls_ok = pcall(http2.createSecureServer, {})
print("http2 loaded; createSecureServer " .. (tls_ok and "available" or "needs key and cert"))
