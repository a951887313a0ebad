-- Classes whose objects have methods and computed properties (Node.js
-- getters), optionally assignable ones with validation (setters).
local M = {}

-- class.index(methods, getters) -> an __index function: methods first,
-- then getters called with the object.
function M.index(methods, getters)
  return function(self, k)
    local m = methods[k]
    if m ~= nil then return m end
    local g = getters[k]
    if g then return g(self) end
    return nil
  end
end

-- class.newindex(getters, setters, readonly_error) -> a __newindex
-- function: setters validate; assigning a getter-only property calls
-- readonly_error(name); anything else is stored.
function M.newindex(getters, setters, readonly_error)
  return function(self, k, v)
    local set = setters[k]
    if set then return set(self, v) end
    if getters[k] then return readonly_error(k) end
    rawset(self, k, v)
  end
end

return M
