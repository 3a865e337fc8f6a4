-- why: item 1. The body loops until killed, then the handler loops too.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  xpcall(function() while true do end end, function() while true do end end)
end
