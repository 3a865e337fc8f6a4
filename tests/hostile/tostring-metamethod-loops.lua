-- why: a __tostring that loops, called from C (tostring, string.format).
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local s = string.format("%s", setmetatable({}, {__tostring = function() while true do end end}))
end
