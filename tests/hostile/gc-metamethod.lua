-- why: a finalizer would run inside another script's call; refused.
-- expect: deadletter
-- error: __gc
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  setmetatable({}, {__gc = function() while true do end end})
end
