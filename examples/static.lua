-- A directory served over h2c and HTTP/1.1 (h2lua.static), with one
-- dynamic route whose answer is compressed for clients that take br or
-- gzip (h2lua.compress). docs/static.md says what each request gets.
--   h2lua examples/static.lua [port] [dir]
--   curl --http2-prior-knowledge http://127.0.0.1:8080/README.md
--   curl --compressed -v http://127.0.0.1:8080/api/lines
--   curl -H 'Range: bytes=0-99' http://127.0.0.1:8080/README.md
local http2 = require "http2"
local static = require "h2lua.static"
local compress = require "h2lua.compress"

local port = tonumber(arg and arg[1]) or 8080
local dir = arg and arg[2] or "."
local files = static.handler(dir)

local server = http2.createServer({ allowHTTP1 = true })
server:on("request", function(req, res)
  if req.url == "/api/lines" then
    res = compress.wrap(res)
    res:setHeader("content-type", "text/plain")
    for i = 1, 1000 do res:write(("line %d of a dynamic answer\n"):format(i)) end
    return res:finish()
  end
  if not files(req, res) then
    res:writeHead(404, { ["content-type"] = "text/plain" })
    res:finish("not found\n")
  end
end)
server:listen(port, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/ (serving %s)"):format(server:address().port, dir))
  io.stdout:flush()
end)
