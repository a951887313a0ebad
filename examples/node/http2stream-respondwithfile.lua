-- http2stream.respondWithFile(): a path as the body. /file: with
-- last-modified set by statCheck; /missing: onError answers 404;
-- /cached: statCheck answers 304 itself and cancels; /trailers: trailers
-- after the file.
--   h2lua examples/node/http2stream-respondwithfile.lua [port] [file]
local http2 = require "http2"
local file = arg[2] or arg[0]

local function http_date(t) return os.date("!%a, %d %b %Y %H:%M:%S GMT", t) end

local server = http2.createServer()
server:on("stream", function(stream, headers)
  local path = headers[":path"]
  if path == "/file" or path == "/missing" then
    local function statCheck(stat, headers)
      headers["last-modified"] = http_date(stat.mtime)
    end
    local function onError(err)
      -- stream:respond() can raise if the stream has been destroyed by
      -- the other side.
      local ok, e = pcall(function()
        if err.code == "ENOENT" then
          stream:respond({ [":status"] = 404 })
        else
          stream:respond({ [":status"] = 500 })
        end
      end)
      if not ok then io.stderr:write(tostring(e.message or e), "\n") end
      stream:finish()
    end
    stream:respondWithFile(path == "/file" and file or "/nonexistent/file",
      { ["content-type"] = "text/plain; charset=utf-8" },
      { statCheck = statCheck, onError = onError })
  elseif path == "/cached" then
    local function statCheck(stat, headers)
      -- Check the stat here...
      stream:respond({ [":status"] = 304 })
      return false -- Cancel the send operation
    end
    stream:respondWithFile(file, { ["content-type"] = "text/plain; charset=utf-8" },
      { statCheck = statCheck })
  else
    stream:respondWithFile(file, { ["content-type"] = "text/plain; charset=utf-8" },
      { waitForTrailers = true })
    stream:on("wantTrailers", function()
      stream:sendTrailers({ ABC = "some value to send" })
    end)
  end
end)
server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
