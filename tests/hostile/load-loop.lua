-- why: code compiled at run time with load() runs under the same budget.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  load("while true do end")()
end
