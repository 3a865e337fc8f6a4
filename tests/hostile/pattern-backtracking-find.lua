-- why: item 2. Exponential backtracking inside string.find (C code, no VM instructions).
-- expect: deadletter
-- error: instruction limit exceeded
-- line: 7
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local found = ("a"):rep(100):find(("a*"):rep(12) .. "b")
end
