-- why: utf8.len reads a whole string without allocating: charged by its length.
-- expect: deadletter
-- error: limit exceeded
local big = ("x"):rep(1 << 20)
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  while true do local n = utf8.len(big) end
end
