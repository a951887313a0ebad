-- A real browser: headless Chromium loads a page from a TLS h2lua server
-- and the page reports, from the browser's own timing entry, which protocol
-- carried it. The server's key is trusted by its SPKI hash (no -k style
-- blanket skip of certificate checks).
local H = require "helper"
local http2 = require "http2"

local CHROMIUM = "/usr/bin/chromium"

describe("a real browser", function()
  after_each(function() assert.is_nil(H.leaks()) end)

  it("headless Chromium gets the page over h2", function()
    assert.is_true(H.exists(CHROMIUM), "chromium is installed by ./bootstrap check")
    local pki = os.tmpname() .. ".pki"
    assert(os.execute(H.PY .. " " .. H.CLIENTS .. "/mkcerts.py " .. pki .. " >/dev/null"))
    local p = io.popen("openssl x509 -pubkey -noout -in " .. pki .. "/server.pem | openssl pkey -pubin -outform der" ..
      " | openssl dgst -sha256 -binary | base64")
    local spki = p:read("a"):gsub("%s", "")
    p:close()
    H.run(function()
      local paths = {}
      local server = http2.createSecureServer({ allowHTTP1 = true,
        key = H.readfile(pki .. "/server-key.pem"), cert = H.readfile(pki .. "/server.pem") })
      server:on("stream", function(st, h)
        paths[#paths + 1] = h[":path"] .. " " .. st.session.alpnProtocol
        st:respond({ ["content-type"] = "text/html" })
        st:finish([[<!doctype html><html><body><p id="p">waiting</p><script>
          document.getElementById('p').textContent =
            'protocol:' + performance.getEntries()[0].nextHopProtocol + ':';
        </script></body></html>]])
      end)
      local port = H.listen(server)
      local profile = os.tmpname() .. ".profile"
      local rc, out, err = H.sh(CHROMIUM .. " --headless --no-sandbox --disable-gpu --disable-quic" ..
        " --no-first-run --disable-background-networking --disable-component-update --disable-sync" ..
        " --user-data-dir=" .. profile .. " --ignore-certificate-errors-spki-list=" .. spki ..
        " --dump-dom https://localhost:" .. port .. "/", 60)
      os.execute("rm -rf " .. profile)
      assert.equal(0, rc, err)
      assert.truthy(out:find(">protocol:h2:<", 1, true), out)
      assert.equal("/ h2", paths[1])
    end, 90000)
    os.execute("rm -rf " .. pki)
  end)
end)
