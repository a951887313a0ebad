-- Every module loads in a stock lua5.4, and the module surface is there.
describe("modules", function()
  it("load in a stock lua5.4", function()
    for _, name in ipairs({ "h2lua_core", "h2lua", "h2lua.sched", "h2lua.emitter",
      "h2lua.timers", "h2lua.errors", "http2", "http2.constants",
      "http2.headers", "http2.settings", "http2.server", "http2.session",
      "http2.stream" }) do
      assert.is_not_nil(require(name), name)
    end
  end)

  it("http2 has the documented top-level API", function()
    local http2 = require "http2"
    for _, f in ipairs({ "createServer", "getDefaultSettings",
      "getPackedSettings", "getUnpackedSettings" }) do
      assert.is_function(http2[f], f)
    end
    assert.is_table(http2.constants)
    assert.is_not_nil(http2.sensitiveHeaders)
  end)

  it("h2lua has the runtime API", function()
    local h2lua = require "h2lua"
    for _, f in ipairs({ "run", "stop", "sleep", "setTimeout", "setInterval",
      "setImmediate", "clearTimeout", "clearInterval", "clearImmediate" }) do
      assert.is_function(h2lua[f], f)
    end
  end)
end)
