-- Headless Chromium against the application pieces: a TLS server whose
-- 'stream' goes to h2lua.static for /assets/ and to an h2lua.router app
-- for the rest. The page (served by the router) fetches what a browser
-- app would, then posts what it saw to /report; the server records the
-- statuses it sent, so both sides of each exchange are checked.
local H = require "helper"
local http2 = require "http2"
local router = require "h2lua.router"
local static = require "h2lua.static"
local json = require "h2lua.json"

local CHROMIUM = "/usr/bin/chromium"

local PAGE = [[<!doctype html><html><body><p id="p">waiting</p><script>
(async () => {
  const out = [];
  const step = async (name, f) => { try { out.push(name + '=' + await f()); } catch (e) { out.push(name + '!' + e); } };
  await step('items', async () => { const r = await fetch('/api/items'); return r.status + ' ' + await r.text(); });
  await step('item', async () => { const r = await fetch('/api/items/42?x=1'); return r.status + ' ' + await r.text(); });
  await step('missing', async () => (await fetch('/api/nope')).status);
  await step('method', async () => { const r = await fetch('/api/items', { method: 'DELETE' }); return r.status + ' ' + r.headers.get('allow'); });
  await step('range', async () => { const r = await fetch('/assets/data.txt', { headers: { Range: 'bytes=0-4' } }); return r.status + ' ' + await r.text(); });
  await step('full', async () => { const r = await fetch('/assets/data.txt'); return r.status + ' ' + (await r.text()).length; });
  await step('again', async () => { const r = await fetch('/assets/data.txt', { cache: 'no-cache' }); return r.status + ' ' + (await r.text()).length; });
  await step('gz', async () => { const r = await fetch('/assets/app.js'); return r.status + ' ' + await r.text(); });
  await step('proto', async () => performance.getEntriesByType('navigation')[0].nextHopProtocol);
  await fetch('/report', { method: 'POST', body: out.join('|') });
})();
</script></body></html>]]

describe("a real browser and the application modules", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("headless Chromium over h2: router JSON (an empty list as []), 404, 405 with Allow; static ranges (206), a 304 on revalidation, a .gz sibling", function()
    assert.is_true(H.exists(CHROMIUM), "chromium is installed by ./bootstrap check")
    local pki = H.pki()
    pki.make()
    local root = os.tmpname() .. ".root"
    os.execute("mkdir -p " .. root)
    H.writefile(root .. "/data.txt", string.rep("0123456789", 100))
    H.writefile(root .. "/app.js", "plain")
    -- the sibling says which file went: a browser always accepts gzip
    local gz = io.popen("gzip -c > " .. root .. "/app.js.gz", "w")
    gz:write("from the gz sibling")
    gz:close()
    local p = io.popen("openssl x509 -pubkey -noout -in " .. pki.dir .. "/server.pem | openssl pkey -pubin -outform der" ..
      " | openssl dgst -sha256 -binary | base64")
    local spki = p:read("a"):gsub("%s", "")
    p:close()
    H.run(function()
      local report, sent = nil, {}
      local app = router.new()
      app:get("/", function() return 200, PAGE, { ["content-type"] = "text/html" } end)
      app:get("/api/items", function() return json.empty_array end)
      app:get("/api/items/:id", function(req) return { id = req.params.id, x = req.query.x } end)
      app:post("/report", function(req) report = req:body() return 204 end)
      local files = static.handler(root, { prefix = "/assets" })
      local routes = app:stream()
      local server = http2.createSecureServer({ key = pki.key("server"), cert = pki.pem("server") })
      server:on("stream", function(stream, headers)
        local path = headers[":path"]
        if path:find("^/assets/") then
          local ok = files(stream, headers)
          sent[#sent + 1] = path .. " " .. tostring(stream.sentHeaders and stream.sentHeaders[":status"])
          if ok then return end
        end
        return routes(stream, headers)
      end)
      local port = H.listen(server)
      local profile, base = os.tmpname() .. ".profile", os.tmpname()
      os.execute(string.format("(%s --headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run" ..
        " --disable-background-networking --disable-component-update --disable-sync" ..
        " --user-data-dir=%s --ignore-certificate-errors-spki-list=%s https://localhost:%d/ > /dev/null 2>&1 & echo $! > %s.pid)",
        CHROMIUM, profile, spki, port, base))
      local pid = tonumber(H.readfile(base .. ".pid") or "")
      H.wait_until(function() return report end, 45000)
      if pid then -- gone before its profile is removed (bounded)
        os.execute("kill " .. pid .. " 2>/dev/null; for i in $(seq 50); do kill -0 " .. pid ..
          " 2>/dev/null || break; sleep 0.1; done")
      end
      os.execute("rm -rf " .. profile .. " " .. base .. " " .. base .. ".pid")
      server:close()
      assert.truthy(report, "no report from the page; sent: " .. table.concat(sent, ", "))
      print("\n  browser: " .. report .. "\n  server sent: " .. table.concat(sent, ", "))
      local got = {}
      for item in report:gmatch("[^|]+") do
        local k, v = item:match("^(%w+)=(.*)$")
        assert.truthy(k, "a step failed in the browser: " .. item)
        got[k] = v
      end
      assert.equal("200 []", got.items)
      local item = json.decode(got.item:match("^200 (.*)$"))
      assert.same({ id = "42", x = "1" }, item)
      assert.equal("404", got.missing)
      assert.equal("405 GET, HEAD, OPTIONS", got.method)
      assert.equal("206 01234", got.range)
      assert.equal("200 1000", got.full)
      -- the browser turns the server's 304 into its cached 200
      assert.equal("200 1000", got.again)
      assert.equal("200 from the gz sibling", got.gz)
      assert.equal("h2", got.proto)
      local statuses = table.concat(sent, ", ")
      assert.truthy(statuses:find("/assets/data.txt 206", 1, true), statuses)
      assert.truthy(statuses:find("/assets/data.txt 304", 1, true), statuses)
    end, 90000)
    os.execute("rm -rf " .. root)
    pki.remove()
  end)
end)
