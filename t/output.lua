-- busted output handler: one line per test while running, the failures in
-- full, and a last line "N passed, M failed" (errors count as failed).
return function(options)
  local busted = require "busted"
  local handler = require("busted.outputHandlers.base")()

  local function name(element) return handler.getFullName(element) end

  handler.testEnd = function(element, parent, status)
    local mark = status == "success" and "ok  " or status == "pending" and "skip" or "FAIL"
    io.stdout:write(mark, " ", name(element), "\n")
    io.stdout:flush()
    return nil, true
  end

  local function show(list, kind)
    for _, f in ipairs(list) do
      io.stdout:write("\n", kind, ": ", f.name or "?", "\n")
      if f.trace and f.trace.short_src then
        io.stdout:write("  at ", f.trace.short_src, ":", tostring(f.trace.currentline), "\n")
      end
      local msg = f.message
      if type(msg) ~= "string" then msg = tostring(msg) end
      io.stdout:write("  ", (msg:gsub("\n", "\n  ")), "\n")
    end
  end

  handler.suiteEnd = function()
    show(handler.failures, "FAILED")
    show(handler.errors, "ERROR")
    local passed = #handler.successes
    local failed = #handler.failures + #handler.errors
    io.stdout:write("\n", passed, " passed, ", failed, " failed\n")
    io.stdout:flush()
    return nil, true
  end

  handler.errorFile = function(element, parent, message)
    io.stdout:write("ERROR loading ", tostring(element.name), ": ", tostring(message), "\n")
    return nil, true
  end

  busted.subscribe({ "test", "end" }, handler.testEnd, { predicate = handler.cancelOnPending })
  busted.subscribe({ "suite", "end" }, handler.suiteEnd)
  busted.subscribe({ "error", "file" }, handler.errorFile)
  return handler
end
