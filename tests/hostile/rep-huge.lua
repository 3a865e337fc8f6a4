-- why: item 2. A result larger than the memory limit is refused before anything is built.
-- expect: deadletter
-- error: memory limit exceeded
-- line: 7
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local s = string.rep("x", 1 << 20, ("y"):rep(1 << 10))
end
