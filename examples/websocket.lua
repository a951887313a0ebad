-- A WebSocket chat: the page at / opens a socket to /chat, and every
-- message anyone sends goes to everyone (so, alone, it is an echo). Over
-- TLS the browser's socket rides the page's HTTP/2 connection (RFC 8441:
-- the server enables the extended CONNECT); over plain http it is an
-- HTTP/1.1 Upgrade. /?auto runs a self-test in the page and writes
-- "result:ok:PROTOCOL:" into it, which it also reports to /result: the
-- server prints it (the suite drives headless Chromium so).
--   h2lua examples/websocket.lua [port] [cert.pem key.pem]
--   then open http://localhost:8080/ (or https:// with a certificate)
local http2 = require "http2"
local websocket = require "h2lua.websocket"

local port = tonumber(arg and arg[1]) or 8080
local cert, key = arg and arg[2], arg and arg[3]

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local PAGE = [[<!doctype html>
<html><head><meta charset="utf-8"><title>h2lua chat</title></head>
<body><p id="status">connecting</p><ul id="log"></ul>
<form id="f"><input id="text" autocomplete="off"><button>send</button></form>
<script>
const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat';
const status = document.getElementById('status'), log = document.getElementById('log');
function show(s) { const li = document.createElement('li'); li.textContent = s; log.appendChild(li); }
function chat() {
  const ws = new WebSocket(url);
  ws.onopen = () => status.textContent = 'connected';
  ws.onmessage = e => show(e.data);
  ws.onclose = e => status.textContent = 'closed ' + e.code;
  document.getElementById('f').onsubmit = ev => {
    ev.preventDefault();
    const t = document.getElementById('text');
    ws.send(t.value);
    t.value = '';
  };
}
// The self-test: text (not ASCII), binary, a message the server sends back
// in fragments, then a clean close.
function auto() {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const big = 'x'.repeat(200000), bin = new Uint8Array([0, 1, 2, 127, 128, 255]);
  let step = 0, proto = '?';
  let reported = false;
  const report = s => {
    status.textContent = s;
    if (!reported) { reported = true; fetch('/result?' + encodeURIComponent(s)); }
  };
  const fail = why => { report('result:fail:' + why + ':'); try { ws.close(); } catch (e) {} };
  ws.onerror = () => fail('error event');
  ws.onmessage = e => {
    if (step === 0) {
      proto = String(e.data).replace('welcome ', '');
      step = 1; ws.send('h\u00e9llo \u2603');
    } else if (step === 1) {
      if (e.data !== 'h\u00e9llo \u2603') return fail('text ' + e.data);
      step = 2; ws.send(bin);
    } else if (step === 2) {
      const got = new Uint8Array(e.data);
      if (got.length !== bin.length || got.some((v, i) => v !== bin[i])) return fail('binary');
      step = 3; ws.send(big);
    } else if (step === 3) {
      if (e.data !== big) return fail('big ' + String(e.data).length);
      step = 4; ws.close(1000, 'bye');
    }
  };
  ws.onclose = e => {
    if (step === 4 && e.code === 1000) report('result:ok:' + proto + ':');
    else fail('close ' + e.code + ' at step ' + step);
  };
}
if (location.search === '?auto') auto(); else chat();
</script></body></html>
]]

local clients = {}

local function chat(req, res)
  local ws = websocket.accept(req, res, { maxPayload = 1024 * 1024, fragmentSize = 16384 })
  if not ws then return end
  clients[ws] = true
  ws:send("welcome " .. ws.http)
  ws:on("close", function() clients[ws] = nil end)
  -- receive() waits in this coroutine; nil once the socket closed
  while true do
    local data, kind = ws:receive()
    if not data then break end
    for peer in pairs(clients) do peer:send(data, kind == "binary") end
  end
end

local options = { allowHTTP1 = true, settings = { enableConnectProtocol = true } }
local server
if cert then
  options.cert, options.key = read(cert), read(key)
  server = http2.createSecureServer(options)
else
  server = http2.createServer(options)
end
-- HTTP/2's extended CONNECT comes as 'connect'; HTTP/1.1's Upgrade as a
-- GET 'request'
server:on("connect", function(req, res)
  if req.headers[":path"] == "/chat" then return chat(req, res) end
  res:writeHead(404)
  res:finish()
end)
server:on("request", function(req, res)
  if websocket.isRequest(req.headers) and req.headers[":path"] == "/chat" then
    return chat(req, res)
  end
  local path = req.headers[":path"]
  local result = path:match("^/result%?(.*)")
  if result then
    print("browser " .. result:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
    io.stdout:flush()
    res:writeHead(204)
    return res:finish()
  end
  if path ~= "/" and path ~= "/?auto" then
    res:writeHead(404)
    return res:finish()
  end
  res:writeHead(200, { ["content-type"] = "text/html; charset=utf-8" })
  res:finish(PAGE)
end)
server:listen(port, "127.0.0.1", function()
  print(("listening on %s://localhost:%d/"):format(cert and "https" or "http", server:address().port))
  io.stdout:flush()
end)
