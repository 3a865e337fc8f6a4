-- why: item 1. The count hook raises; Lua runs the message handler with hooks off.
-- expect: deadletter
-- error: instruction limit exceeded
-- line: 7
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  e.subject = "tampered" xpcall(error, function() while true do end end)
end
