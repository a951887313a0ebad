-- response.writeEarlyHints(): 103 Early Hints before the response, with
-- one link and then a list of them.
--   h2lua examples/node/response-writeearlyhints.lua [port]
--   curl --http2-prior-knowledge -v http://127.0.0.1:8000/
local http2 = require "http2"
local server = http2.createServer(function(request, response)
  local earlyHintsLink = "</styles.css>; rel=preload; as=style"
  response:writeEarlyHints({
    link = earlyHintsLink,
  })

  local earlyHintsLinks = {
    "</styles.css>; rel=preload; as=style",
    "</scripts.js>; rel=preload; as=script",
  }
  response:writeEarlyHints({
    link = earlyHintsLinks,
  })
  response:finish("the page\n")
end)
server:listen(tonumber(arg[1]) or 8000, "127.0.0.1", function()
  print(("listening on http://127.0.0.1:%d/"):format(server:address().port))
  io.stdout:flush()
end)
