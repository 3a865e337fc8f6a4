-- why: a proper tail call never grows the stack: only the budget stops it.
-- expect: deadletter
-- error: instruction limit exceeded
local function spin(n) return spin(n + 1) end
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  return spin(0)
end
