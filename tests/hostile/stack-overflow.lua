-- why: unbounded recursion through C (gsub calling back): a stack overflow error, not a crash.
-- expect: deadletter
-- error: stack overflow
local function dive() return string.gsub("x", "x", dive) end
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  dive()
end
