-- why: unbounded Lua recursion: the Lua stack grows to the memory limit (16 MiB in the corpus)
-- before Lua's own stack limit; Lua raises the memory error itself, so no line is known.
-- expect: deadletter
-- error: limit exceeded
local function dive(n) return 1 + dive(n + 1) end
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  dive(0)
end
