-- serverhttp2session.origin(), the origins option, and the client's
-- 'origin' event: ORIGIN frames (RFC 8336), sent over TLS only.
--   h2lua examples/node/serverhttp2session-origin.lua cert.pem key.pem
local http2 = require "http2"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
local options = { cert = read(arg[1] or "cert.pem"), key = read(arg[2] or "key.pem") }

-- the first form: session:origin() as each session opens
local server = http2.createSecureServer(options)
server:on("stream", function(stream)
  stream:respond()
  stream:finish("ok")
end)
server:on("session", function(session)
  session:origin("https://example.com", "https://example.org")
end)

-- the second form: the origins option does the same for every session
local options2 = { cert = options.cert, key = options.key,
  origins = { "https://example.net", "https://example.info" } }
local server2 = http2.createSecureServer(options2)
server2:on("stream", function(stream)
  stream:respond()
  stream:finish("ok")
end)

local function client_of(srv, done)
  local client = http2.connect("https://localhost:" .. srv:address().port, { ca = options.cert })
  client:on("origin", function(origins)
    for n = 1, #origins do print(origins[n]) end
    client:close()
    srv:close()
    if done then done() end
  end)
end

server:listen(0, "127.0.0.1", function()
  server2:listen(0, "127.0.0.1", function()
    client_of(server, function() client_of(server2) end)
  end)
end)
