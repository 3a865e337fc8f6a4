-- why: a loop of coroutines that each end before their own hook fires: every resume is charged
-- what the coroutine's hook cannot see, so the loop is stopped by the instruction count.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  while true do coroutine.resume(coroutine.create(function() for i = 1, 900 do end end)) end
end
