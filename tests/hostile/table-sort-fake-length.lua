-- why: table.sort compares in C (no comparison function, values from a C __index).
-- Each element comes from a C __index, slow per unit charged: the wall clock may stop it first.
-- expect: deadletter
-- error: limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  table.sort(setmetatable({}, {__len = function() return (1 << 31) - 2 end, __index = rawlen}))
end
