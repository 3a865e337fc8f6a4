-- why: Redis' "trick readonly table": the shared string metatable cannot be reached.
-- expect: deadletter
-- error: attempt to index
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  getmetatable("").__index = function() return "owned" end
end
