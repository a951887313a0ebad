-- What the h2lua program does with a script: load it, run the main chunk in
-- a coroutine, then the loop until idle. Returns the exit status: 0, or 1
-- with a traceback when the main chunk raised.
local h2lua = require "h2lua"
local sched = require "h2lua.sched"

return function(mode, what, ...)
  local chunk, err
  if mode == "code" then
    chunk, err = load(what, "=(command line)")
  elseif mode == "stdin" then
    chunk, err = load(io.read("a"), "=stdin")
  else
    chunk, err = loadfile(what)
  end
  if not chunk then
    io.stderr:write("h2lua: ", tostring(err), "\n")
    return 1
  end
  local status = 0
  local main = {
    _onerror = function(_, e)
      io.stderr:write("h2lua: ", tostring(e), "\n")
      if type(e) == "table" and e.stack then io.stderr:write(e.stack, "\n") end
      status = 1
      h2lua.stop()
    end,
  }
  h2lua.handleSignals(true)
  local args = table.pack(...)
  sched.spawn(function() return chunk(table.unpack(args, 1, args.n)) end, main)
  if status == 0 then h2lua.run() end
  io.stdout:flush()
  return status
end
