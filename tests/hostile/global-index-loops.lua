-- why: Redis' "trick global protection": a metatable on the script's own globals.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  setmetatable(_G, {__index = function() while true do end end})
  local x = not_defined_anywhere
end
