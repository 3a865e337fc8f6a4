-- why: one instruction that builds a large value (string.upper of 1 MiB) in a loop: the
-- allocation is charged and arms the check for the next instruction, so the loop is stopped
-- after a few iterations instead of after a thousand instructions' worth of them.
-- expect: deadletter
-- error: limit exceeded
local big = ("x"):rep(1 << 20)
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  while true do local upper = big:upper() end
end
