-- why: item 1. A handler that starts another xpcall whose handler loops.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local function inner() xpcall(error, function() while true do end end) end
  xpcall(function() while true do end end, function() inner() return "caught" end)
  while true do end
end
