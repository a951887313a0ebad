-- The test PKI (t/clients/mkcerts.py, as H.pki makes it) for specs that
-- want its directory: ca.pem, other-ca.pem (a CA that signed none of the
-- others), server.pem and server-key.pem (localhost and 127.0.0.1),
-- server-full.pem (certificate then key, as HAProxy reads it), client.pem
-- and client-key.pem, and the rest mkcerts.py makes.
local H = require "helper"
local P = {}

-- P.make() -> the directory
function P.make()
  local pki = H.pki()
  pki.make()
  return pki.dir
end

function P.remove(dir)
  if dir and dir:match("^/tmp/") then os.execute("rm -rf " .. H.shq(dir)) end
end

return P
