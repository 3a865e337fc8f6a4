-- why: a __len that lies and an __index that is a C function: table.concat works in C only.
-- Each element comes from a C __index, slow per unit charged: the wall clock may stop it first.
-- expect: deadletter
-- error: limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local fake = setmetatable({}, {__len = function() return 1 << 40 end, __index = tostring})
  local s = table.concat(fake)
end
