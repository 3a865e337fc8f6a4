-- why: item 4. The kill is caught by coroutine.resume and process returns normally: the event
-- must pass on without the failed script's changes, and the error must name the line.
-- expect: pass
-- error: instruction limit exceeded
-- line: 11
on_error = "pass"
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  e.subject = "tampered"
  e.extensions.tampered = "yes"
  coroutine.resume(coroutine.create(function() while true do end end))
end
