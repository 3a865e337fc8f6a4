-- why: a string that doubles until the memory limit.
-- expect: deadletter
-- error: memory limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local s = "x" while true do s = s .. s end
end
