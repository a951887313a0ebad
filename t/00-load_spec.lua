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

describe("h2lua.json", function()
  it("encodes and decodes, reports bad input as nil, err", function()
    local json = require "h2lua.json"
    assert.equal('{"a":"http/1.1"}', json.encode({ a = "http/1.1" }))
    assert.equal('[1,2,3]', json.encode({ 1, 2, 3 }))
    assert.same({ x = { 1, 2 }, y = "z/w" }, json.decode('{"x":[1,2],"y":"z\\/w"}'))
    assert.equal(json.null, json.decode("null"))
    local v, err = json.decode("{nope")
    assert.is_nil(v)
    assert.is_string(err)
    assert.is_nil((json.decode(42)))
    assert.has_error(function() json.encode({ f = print }) end)
    -- a table with __pairs encodes what pairs() gives, not its raw fields
    local proxy = setmetatable({ hidden = true }, { __pairs = function()
      return next, { shown = 1 }, nil
    end })
    assert.same({ shown = 1 }, json.decode(json.encode(proxy)))
    assert.same({ { shown = 1 } }, json.decode(json.encode({ proxy })))
  end)
end)
