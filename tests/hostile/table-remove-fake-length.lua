-- why: table.remove shifts #t elements in C.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  table.remove(setmetatable({}, {__len = function() return 1 << 62 end}), 1)
end
