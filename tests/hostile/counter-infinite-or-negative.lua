-- why: item 7. Infinite and negative increments are not counter steps.
-- expect: deadletter
-- error: finite number
local turn = 0
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  turn = turn + 1
  if turn == 1 then er.counter("hits", math.huge) else er.counter("hits", -1) end
end
