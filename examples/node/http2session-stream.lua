-- Http2Session 'stream' (and the server's, which the document shows right
-- after): answer every request with "hello world" in two writes.
--   h2lua examples/node/http2session-stream.lua [port]
--   curl --http2-prior-knowledge http://127.0.0.1:8000/
local http2 = require "http2"

-- Create an unencrypted HTTP/2 server
local server = http2.createServer()

server:on("session", function(session)
  session:on("stream", function(stream, headers, flags)
    local method = headers[":method"]
    local path = headers[":path"]
    -- ...
    stream:on("error", function(err) io.stderr:write(tostring(err.message), "\n") end)
    stream:respond({
      [":status"] = 200,
      ["content-type"] = "text/plain; charset=utf-8",
      ["x-request"] = method .. " " .. path,
    })
    stream:write("hello ")
    stream:finish("world")
  end)
end)

server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
