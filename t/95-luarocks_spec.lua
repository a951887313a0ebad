-- Packaging for Lua users: `luarocks make` from the checkout into a
-- temporary tree, then the modules from that tree alone (a stock lua5.4
-- with the tree's paths) and the installed program, each in a tiny
-- server/client exchange.
local H = require "helper"

local LUAROCKS = io.popen("command -v luarocks 2>/dev/null"):read("l")

if not LUAROCKS or LUAROCKS == "" then
  describe("luarocks make", function()
    pending("luarocks is not installed (apt-get install luarocks; ./bootstrap check does)")
  end)
  return
end

local run = H.exec

local EXCHANGE = [[
local http2, h2lua = require "http2", require "h2lua"
print("from " .. package.searchpath("http2", package.path))
local server = http2.createServer()
server:on("stream", function(st, h) st:respond(); st:finish("pong " .. h[":path"]) end)
server:listen(0, "127.0.0.1", function()
  h2lua.spawn(function()
    local status, _, body = h2lua.fetch("http://127.0.0.1:" .. server:address().port .. "/ping")
    print(status, body)
    server:close()
  end)
end)
]]

describe("luarocks make", function()
  local tree, script

  setup(function()
    tree = os.tmpname()
    os.remove(tree)
    script = os.tmpname() .. ".lua"
  end)

  teardown(function()
    if tree:match("^/tmp/") then os.execute("rm -rf " .. tree) end
    os.remove(script)
  end)

  it("builds with the autotools build and installs the modules and the program into a tree; both serve from it", function()
    local out, rc = run("luarocks --lua-version 5.4 make --tree " .. tree .. " h2lua-scm-1.rockspec")
    assert.equal("0", rc, out)
    assert.is_true(H.exists(tree .. "/share/lua/5.4/http2.lua"))
    assert.is_true(H.exists(tree .. "/lib/lua/5.4/h2lua_core.so"))
    assert.is_true(H.exists(tree .. "/bin/h2lua"))
    -- the checkout is left as it was
    assert.is_false(H.exists(".rockbuild"))
    -- stock lua5.4, the tree's paths only, away from the checkout
    H.writefile(script, EXCHANGE .. "\nh2lua.run()\n")
    local lua_path = tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua"
    out, rc = run("cd / && LUA_PATH=" .. H.shq(lua_path) .. " LUA_CPATH=" ..
      H.shq(tree .. "/lib/lua/5.4/?.so") .. " timeout 20 lua5.4 " .. script)
    assert.equal("0", rc, out)
    assert.equal("from " .. tree .. "/share/lua/5.4/http2.lua\n200\tpong /ping\n", out)
    -- the program finds the modules of its own tree
    H.writefile(script, EXCHANGE)
    out, rc = run("cd / && env -u LUA_PATH -u LUA_CPATH timeout 20 " .. tree .. "/bin/h2lua " .. script)
    assert.equal("0", rc, out)
    assert.equal("from " .. tree .. "/bin/../share/lua/5.4/http2.lua\n200\tpong /ping\n", out)
  end)
end)
