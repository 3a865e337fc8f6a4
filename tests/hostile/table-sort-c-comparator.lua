-- why: table.sort with a C function as the comparison (no VM instructions per comparison).
-- Each comparison is slow here (two C __index calls), so the wall clock may stop it first.
-- expect: deadletter
-- error: limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local fake = setmetatable({}, {__len = function() return (1 << 31) - 2 end, __index = rawlen})
  table.sort(fake, rawequal)
end
