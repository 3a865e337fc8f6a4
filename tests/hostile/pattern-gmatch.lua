-- why: item 2. The same backtracking through gmatch.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  for _ in ("a"):rep(3000):gmatch(".-.-.-b") do end
end
