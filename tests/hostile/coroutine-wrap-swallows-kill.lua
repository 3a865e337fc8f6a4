-- why: item 4. The same through coroutine.wrap and pcall.
-- expect: pass
-- error: instruction limit exceeded
on_error = "pass"
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  e.subject = "tampered"
  pcall(coroutine.wrap(function() while true do end end))
end
