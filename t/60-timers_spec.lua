-- Timers and sleep: Node's ordering, arguments, clear, ref/unref, refresh.
local h2lua = require "h2lua"

local function run_bounded(limit_ms)
  -- an unref'd guard so a bug cannot hang the suite
  local guard = h2lua.setTimeout(function() h2lua.stop() end, limit_ms or 5000)
  guard:unref()
  h2lua.run()
  h2lua.clearTimeout(guard)
end

describe("timers", function()
  it("fire by due time, and in creation order for equal times", function()
    local order = {}
    h2lua.setTimeout(function() order[#order + 1] = "c30" end, 30)
    h2lua.setTimeout(function() order[#order + 1] = "a10" end, 10)
    h2lua.setTimeout(function() order[#order + 1] = "b10" end, 10)
    h2lua.setTimeout(function() order[#order + 1] = "d1" end, 0)
    run_bounded()
    assert.same({ "d1", "a10", "b10", "c30" }, order)
  end)

  it("pass extra arguments, and clearTimeout cancels", function()
    local got, cancelled = nil, false
    h2lua.setTimeout(function(a, b, c) got = { a, b, c } end, 1, "x", nil, 3)
    local t = h2lua.setTimeout(function() cancelled = true end, 5)
    h2lua.clearTimeout(t)
    h2lua.clearTimeout(nil) -- ignored, as in Node
    run_bounded()
    assert.same({ "x", nil, 3 }, got)
    assert.is_false(cancelled)
  end)

  it("setInterval repeats until clearInterval", function()
    local n = 0
    local iv
    iv = h2lua.setInterval(function()
      n = n + 1
      if n == 3 then h2lua.clearInterval(iv) end
    end, 2)
    run_bounded()
    assert.equal(3, n)
  end)

  it("immediates run in order, after the current callback, one batch per turn", function()
    local order = {}
    h2lua.setImmediate(function()
      order[#order + 1] = "i1"
      h2lua.setImmediate(function() order[#order + 1] = "i3 (next turn)" end)
    end)
    h2lua.setImmediate(function(x) order[#order + 1] = "i2" .. x end, "!")
    local cleared = h2lua.setImmediate(function() order[#order + 1] = "never" end)
    h2lua.clearImmediate(cleared)
    order[#order + 1] = "sync"
    run_bounded()
    assert.same({ "sync", "i1", "i2!", "i3 (next turn)" }, order)
  end)

  it("an unref'd timer does not keep the loop alive; ref() makes it", function()
    local fired = false
    local t = h2lua.setTimeout(function() fired = true end, 50)
    t:unref()
    assert.is_false(t:hasRef())
    local t0 = h2lua.now()
    h2lua.run()
    assert.is_false(fired)
    assert.is_true(h2lua.now() - t0 < 40)
    t:ref()
    assert.is_true(t:hasRef())
    run_bounded()
    assert.is_true(fired)
  end)

  it("refresh() restarts the countdown", function()
    local fired_at
    local t0 = h2lua.now()
    local t = h2lua.setTimeout(function() fired_at = h2lua.now() - t0 end, 40)
    h2lua.setTimeout(function() t:refresh() end, 30)
    run_bounded()
    assert.is_true(fired_at >= 68, "fired at " .. tostring(fired_at))
  end)

  it("sleep() suspends only its coroutine; sleepers wake in due order", function()
    local order = {}
    h2lua.spawn(function() h2lua.sleep(30); order[#order + 1] = "slow" end)
    h2lua.spawn(function() h2lua.sleep(5); order[#order + 1] = "fast" end)
    order[#order + 1] = "both started"
    run_bounded()
    assert.same({ "both started", "fast", "slow" }, order)
  end)

  it("reject a non-function callback with ERR_INVALID_ARG_TYPE", function()
    for _, f in ipairs({ h2lua.setTimeout, h2lua.setInterval, h2lua.setImmediate }) do
      local ok, e = pcall(f, "nope", 1)
      assert.is_false(ok)
      assert.equal("ERR_INVALID_ARG_TYPE", e.code)
    end
  end)

  it("an error in a timer callback is reported and the loop goes on", function()
    local after = false
    local real = io.stderr
    local sink = io.open("/dev/null", "w")
    io.stderr = sink
    h2lua.setTimeout(function() error("timer boom") end, 1)
    h2lua.setTimeout(function() after = true end, 5)
    run_bounded()
    io.stderr = real
    sink:close()
    assert.is_true(after)
  end)
end)
